"""The 2D U(1) flow: gauge-equivariant couplings after Kanwar et al. (arXiv:2003.06413); prior uniform (Haar)
links.

Each layer updates the links of one direction mu on every 4th line (x_nu = offset mod 4); each such link is the
only updated link in one "active" plaquette, which is transformed by an invertible circle map conditioned on the
plaquettes that contain no updated link (as cos, sin features); the link moves by the change of its plaquette,
so the Jacobian is that of the plaquette map. The circle map (our choice, simpler than circular splines) is a
convex mixture of K non-compact projections g_s(x) = 2 atan(e^s tan(x / 2)) on [-pi, pi) followed by a
rotation by t; its derivative g_s'(x) = e^s / (cos^2(x/2) + e^{2s} sin^2(x/2)) is closed form. Log-scales are
tanh-bounded, so training never overflows.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from twins.lattice.models.periodic_cnn import periodic_cnn
from twins.lattice.theories import U1, wrap_angle


def ncp(x: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-compact projection of angles x in [-pi, pi) with log-scale s: (g_s(x), log g_s'(x))."""
    half = 0.5 * x
    y = 2 * torch.atan(torch.exp(s) * torch.tan(half))
    log_deriv = s - torch.log(torch.cos(half) ** 2 + torch.exp(2 * s) * torch.sin(half) ** 2)
    return y, log_deriv


def torch_plaquettes(theta: torch.Tensor) -> torch.Tensor:
    """P(x) of link batches (batch, 2, L0, L1) -> (batch, L0, L1), as twins.lattice.theories.U1.plaquettes."""
    t0, t1 = theta[:, 0], theta[:, 1]
    return t0 + torch.roll(t1, -1, dims=1) - torch.roll(t0, -1, dims=2) - t1


class PlaquetteCoupling(nn.Module):
    """One gauge-equivariant coupling: updates links theta_mu(x) with x_nu = offset (mod 4)."""

    def __init__(self, shape, mu: int, offset: int, hidden: list[int], kernel: int, mixture: int):
        super().__init__()
        nu = 1 - mu
        coords = torch.meshgrid(torch.arange(shape[0]), torch.arange(shape[1]), indexing="ij")
        line = coords[nu]
        # plaquette P(y) holds +theta_0(y) and +theta_1(y + 0): the active plaquette of theta_mu(x) is P(x - mu_1)
        active_line = offset if mu == 0 else (offset - 1) % 4
        frozen = ((line - offset) % 4 == 1) | ((line - offset) % 4 == 2)
        link_mask = torch.zeros((2, *shape))
        link_mask[mu] = ((line - offset) % 4 == 0).to(link_mask.dtype)
        self.register_buffer("active", ((line % 4) == active_line).to(link_mask.dtype))
        self.register_buffer("frozen", frozen.to(link_mask.dtype))
        self.register_buffer("link_mask", link_mask)
        self.mu = mu
        self.mixture = mixture
        self.net = periodic_cnn(2, hidden, 2 * mixture + 1, kernel)

    def forward(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Links (batch, 2, L0, L1) -> the transformed links (wrapped into [-pi, pi)) and log |det J| (batch,)."""
        plaq = wrap_angle(torch_plaquettes(theta))
        features = torch.stack([self.frozen * torch.cos(plaq), self.frozen * torch.sin(plaq)], dim=1)
        out = self.net(features)
        log_s = 3.0 * out[:, : self.mixture]  # tanh-bounded log-scales in (-3, 3)
        weights = torch.softmax(2.0 * out[:, self.mixture : 2 * self.mixture], dim=1)
        shift = math.pi * out[:, -1]
        y, log_d = ncp(plaq[:, None], log_s)
        mixed = (weights * y).sum(dim=1)
        log_det_site = torch.log((weights * torch.exp(log_d)).sum(dim=1))
        new_plaq = wrap_angle(mixed + shift)
        change = self.active * wrap_angle(new_plaq - plaq)
        # the active plaquette of theta_mu(x) sits at x for mu = 0 and at x - 0 for mu = 1
        link_change = change if self.mu == 0 else torch.roll(change, 1, dims=1)
        theta = theta + self.link_mask[None] * link_change[:, None]
        return wrap_angle(theta), (self.active * log_det_site).sum(dim=(1, 2))


class U1Flow(nn.Module):
    """Gauge-equivariant flow for 2D U(1) links (batch, 2, L0, L1); layers cycle through mu and offset."""

    def __init__(self, shape, layers: int, hidden: list[int], kernel: int, mixture: int):
        super().__init__()
        if len(shape) != 2 or shape[0] % 4 or shape[1] % 4:
            raise ValueError(f"the U(1) flow needs a 2D lattice with extents divisible by 4; got {list(shape)}")
        self.shape = tuple(shape)
        self.couplings = nn.ModuleList(
            PlaquetteCoupling(shape, i % 2, (i // 2) % 4, hidden, kernel, mixture) for i in range(layers)
        )

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """n link configurations (n, 2, L0, L1) and their log q (n,)."""
        dtype = self.couplings[0].active.dtype
        theta = 2 * math.pi * torch.rand((n, 2, *self.shape), generator=generator, dtype=dtype) - math.pi
        log_q = torch.full((n,), -theta[0].numel() * math.log(2 * math.pi), dtype=dtype)
        for layer in self.couplings:
            theta, log_det = layer(theta)
            log_q = log_q - log_det
        return theta, log_q


def build(theory: U1, settings: dict) -> U1Flow:
    """The flow of settings {layers, hidden, kernel, mixture} (lattice.ensembles.<ensemble>.flow) for `theory`."""
    return U1Flow(
        theory.shape,
        int(settings["layers"]),
        list(settings["hidden"]),
        int(settings["kernel"]),
        int(settings["mixture"]),
    )


def action(theory: U1, theta: torch.Tensor) -> torch.Tensor:
    """Wilson action of link batches (batch, 2, L0, L1) -> (batch,), as twins.lattice.theories.U1.action."""
    return -theory.beta * torch.cos(torch_plaquettes(theta)).sum(dim=(1, 2))
