"""The lattice flows by theory (the `theory` of an ensemble): each module has `build(theory, settings)` (the
network, whose `sample(n, generator)` draws configurations with their log density) and `action(theory, x)` (the
action on torch batches: the loss's and the Metropolis weights' S).

Both flows are trained the same way, by reverse KL (`twins.lattice.models.reverse_kl`: `train`, and `load` of
the model file), and sampled the same way, as NF-MCMC proposals (`twins.lattice.nfmcmc`).
"""

from __future__ import annotations

import torch
from torch import nn

from twins.lattice.models import phi4_flow, u1_flow
from twins.lattice.theories import U1, Phi4

MODELS = {"phi4": phi4_flow, "u1": u1_flow}


def get_model(theory_name: str):
    """The flow module of theory `theory_name`; ValueError naming the known ones otherwise."""
    if theory_name not in MODELS:
        raise ValueError(f"no lattice flow for theory {theory_name!r}; choose from {sorted(MODELS)}")
    return MODELS[theory_name]


def build_flow(theory: Phi4 | U1, settings: dict) -> nn.Module:
    """The flow of settings {layers, hidden, kernel, odd, mixture} for a Phi4 or U1 theory."""
    return get_model(theory.name).build(theory, settings)


def torch_action(theory: Phi4 | U1, x: torch.Tensor) -> torch.Tensor:
    """The theory's action on a batch of torch fields (same formulas as twins.lattice.theories), (batch,)."""
    return get_model(theory.name).action(theory, x)
