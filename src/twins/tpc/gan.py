"""Conditional GAN networks for pad-row responses (after TPC-FastSim's fully connected 8x16 baseline).

Conventions: responses x (N, pads, time_buckets) in log10(1 + ADC) space; conditions c (N, k) float32
encoded features (`twins.tpc.preprocess`); noise z (N, latent_size) standard normal.
The generator is an MLP on [z, c] with a linear output (negative values mean 0 ADC after the inverse
transform); the critic is an MLP on [flattened x, c] with a scalar Wasserstein score (no sigmoid).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

LEAKY_SLOPE = 0.2


def _mlp(n_in: int, hidden: Sequence[int], n_out: int) -> nn.Sequential:
    hidden = [int(h) for h in hidden]
    if not hidden or min(hidden) < 1:
        raise ValueError(f"hidden layer widths must be a non-empty list of positive integers; got {hidden}")
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(n_in, width), nn.LeakyReLU(LEAKY_SLOPE)]
        n_in = width
    layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class ResponseGenerator(nn.Module):
    def __init__(self, shape: Sequence[int], n_conditions: int, latent_size: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        self.latent_size = int(latent_size)
        self.n_conditions = int(n_conditions)
        self.net = _mlp(self.latent_size + self.n_conditions, hidden, self.shape[0] * self.shape[1])

    def forward(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """noise (N, latent_size), conditions (N, k) -> responses (N, pads, buckets), log space."""
        return self.net(torch.cat([noise, conditions], dim=1)).view(-1, *self.shape)


class ResponseCritic(nn.Module):
    def __init__(self, shape: Sequence[int], n_conditions: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        self.net = _mlp(self.shape[0] * self.shape[1] + int(n_conditions), hidden, 1)

    def forward(self, x: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """x (N, pads, buckets), conditions (N, k) -> scores (N,)."""
        return self.net(torch.cat([x.flatten(1), conditions], dim=1)).squeeze(1)


def gradient_penalty(
    critic: ResponseCritic,
    real: torch.Tensor,
    fake: torch.Tensor,
    conditions: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP term (Gulrajani et al. 2017): mean (|grad_x critic| - 1)^2 on random interpolates."""
    eps = torch.rand(len(real), 1, 1, generator=generator).to(real.device)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed, conditions).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()
