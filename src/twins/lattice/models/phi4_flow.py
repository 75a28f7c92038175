"""The phi^4 flow: real NVP affine couplings with checkerboard masks and small periodic CNNs (Albergo et al.,
arXiv:2101.08176); prior N(0, 1) per site.

With `odd: true` the scale network is made even and the shift network odd in the frozen field
(s(x) = [n_s(x) + n_s(-x)] / 2, t(x) = [n_t(x) - n_t(-x)] / 2), so the whole flow is odd, f(-z) = -f(z), and its
density is exactly symmetric under phi -> -phi. Scales are tanh-bounded, so training never overflows.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from twins.lattice.models.periodic_cnn import periodic_cnn
from twins.lattice.theories import Phi4


def checkerboard(shape: tuple[int, int], parity: int) -> torch.Tensor:
    """(L0, L1) mask, 1 on the sites with (x0 + x1 + parity) odd."""
    grid = torch.arange(shape[0])[:, None] + torch.arange(shape[1])[None, :]
    return ((grid + parity) % 2).to(torch.get_default_dtype())


class AffineCoupling(nn.Module):
    """x_active -> x_active e^s + t with (s, t) from the frozen sites; mask = 1 on frozen sites."""

    def __init__(self, shape, parity: int, hidden: list[int], kernel: int, odd: bool):
        super().__init__()
        self.register_buffer("mask", checkerboard(shape, parity))
        self.net = periodic_cnn(1, hidden, 2, kernel)
        self.odd = odd

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(batch, L0, L1) -> the transformed fields and log |det J| (batch,)."""
        frozen = self.mask * x
        out = self.net(frozen[:, None])
        if self.odd:
            mirror = self.net(-frozen[:, None])
            s, t = 0.5 * (out[:, 0] + mirror[:, 0]), 0.5 * (out[:, 1] - mirror[:, 1])
        else:
            s, t = out[:, 0], out[:, 1]
        active = 1 - self.mask
        s, t = active * s, active * t
        return frozen + active * (x * torch.exp(s) + t), s.sum(dim=(1, 2))


class Phi4Flow(nn.Module):
    """Stack of affine checkerboard couplings on a 2D lattice (batch, L0, L1)."""

    def __init__(self, shape, layers: int, hidden: list[int], kernel: int, odd: bool):
        super().__init__()
        if len(shape) != 2:
            raise ValueError(f"the phi^4 flow is implemented for 2D lattices; got shape {list(shape)}")
        self.shape = tuple(shape)
        self.couplings = nn.ModuleList(AffineCoupling(shape, i % 2, hidden, kernel, odd) for i in range(layers))

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """n configurations (n, L0, L1) and their log q (n,)."""
        dtype = self.couplings[0].mask.dtype  # float64 after .double(): exact log q for Metropolis
        z = torch.randn((n, *self.shape), generator=generator, dtype=dtype)
        log_q = -0.5 * (z**2).sum(dim=(1, 2)) - 0.5 * z[0].numel() * math.log(2 * math.pi)
        x = z
        for layer in self.couplings:
            x, log_det = layer(x)
            log_q = log_q - log_det
        return x, log_q


def build(theory: Phi4, settings: dict) -> Phi4Flow:
    """The flow of settings {layers, hidden, kernel, odd} (lattice.ensembles.<ensemble>.flow) for `theory`."""
    return Phi4Flow(
        theory.shape, int(settings["layers"]), list(settings["hidden"]), int(settings["kernel"]), bool(settings["odd"])
    )


def action(theory: Phi4, x: torch.Tensor) -> torch.Tensor:
    """S of a batch of torch fields (batch, *shape) -> (batch,), the formula of twins.lattice.theories.Phi4."""
    density = (2 * theory.dim + theory.m2) * x**2 + theory.lam * x**4
    for axis in range(1, x.dim()):
        density = density - 2.0 * x * torch.roll(x, -1, dims=axis)
    return density.sum(dim=tuple(range(1, x.dim())))
