"""NF-MCMC: independence Metropolis with the trained flow as proposal (float64 on the CPU), and the effective
sample size of the flow as an importance sampler.

A proposal x' ~ q replaces the current x with probability min(1, w(x') / w(x)), w = exp(-S - log q);
the chain is exact for any flow, the flow only sets the acceptance. Torch draws the proposals and numpy
draws the accept/reject uniforms, both seeded from the master seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from twins.lattice.models import torch_action


@dataclass
class NFChain:
    configs: np.ndarray  # (n, *field_shape)
    accepted: np.ndarray  # (n,) bool, the first proposal counts as accepted
    log_weights: np.ndarray  # (n,) log w of every proposal, for the ESS
    seconds: float

    @property
    def acceptance(self) -> float:
        return float(self.accepted[1:].mean()) if self.accepted.size > 1 else float("nan")


def effective_sample_size(log_weights: torch.Tensor) -> float:
    """Normalised ESS = (sum w)^2 / (N sum w^2) in [0, 1], from log importance weights (N,)."""
    lw = log_weights - log_weights.max()
    w = torch.exp(lw)
    return float(w.sum() ** 2 / (w.numel() * (w**2).sum()))


def independence_metropolis(flow, theory, n_configs: int, batch_size: int, seed: int) -> NFChain:
    """n_configs steps of independence Metropolis, proposals drawn in batches."""
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    configs, log_w = [], []
    with torch.no_grad():
        remaining = n_configs
        while remaining > 0:
            x, log_q = flow.sample(min(batch_size, remaining), generator)
            log_w.append((-torch_action(theory, x) - log_q).numpy())
            configs.append(x.numpy())
            remaining -= x.shape[0]
    proposals = np.concatenate(configs)
    log_w = np.concatenate(log_w)
    chain = np.empty_like(proposals)
    accepted = np.zeros(n_configs, dtype=bool)
    current, current_lw = 0, -math.inf
    for i in range(n_configs):
        if i == 0 or math.log(rng.random() + 1e-300) < log_w[i] - current_lw:
            current, current_lw = i, log_w[i]
            accepted[i] = True
        chain[i] = proposals[current]
    if theory.name == "u1":
        chain = (chain + math.pi) % (2 * math.pi) - math.pi
    return NFChain(chain, accepted, log_w, time.perf_counter() - started)
