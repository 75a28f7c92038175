"""Normalizing flows for lattice fields (torch), trained by reverse KL and used as Metropolis proposals.

phi^4: real NVP affine couplings with checkerboard masks and small periodic CNNs (Albergo et al.,
arXiv:2101.08176); prior N(0, 1) per site. With `odd: true` the scale network is made even and the shift
network odd in the frozen field (s(x) = [n_s(x) + n_s(-x)] / 2, t(x) = [n_t(x) - n_t(-x)] / 2), so the
whole flow is odd, f(-z) = -f(z), and its density is exactly symmetric under phi -> -phi.

U(1) in 2D: gauge-equivariant couplings after Kanwar et al. (arXiv:2003.06413). Each layer updates the
links of one direction mu on every 4th line (x_nu = offset mod 4); each such link is the only updated link
in one "active" plaquette, which is transformed by an invertible circle map conditioned on the plaquettes
that contain no updated link (as cos, sin features); the link moves by the change of its plaquette, so the
Jacobian is that of the plaquette map. The circle map (our choice, simpler than circular splines) is a
convex mixture of K non-compact projections g_s(x) = 2 atan(e^s tan(x / 2)) on [-pi, pi) followed by a
rotation by t; its derivative g_s'(x) = e^s / (cos^2(x/2) + e^{2s} sin^2(x/2)) is closed form.
Prior: uniform (Haar) links.

Every flow maps prior samples z to (x, log q(x)); scales are bounded (tanh) so training never overflows.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from twins.lattice.theories import wrap_angle


def periodic_cnn(in_channels: int, hidden: list[int], out_channels: int, kernel: int) -> nn.Sequential:
    """Conv layers with circular padding and LeakyReLU; a final tanh keeps outputs bounded."""
    layers: list[nn.Module] = []
    sizes = [in_channels, *hidden, out_channels]
    for i, (c_in, c_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, padding_mode="circular"))
        layers.append(nn.LeakyReLU() if i < len(sizes) - 2 else nn.Tanh())
    return nn.Sequential(*layers)


def checkerboard(shape: tuple[int, int], parity: int) -> torch.Tensor:
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


def ncp(x: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-compact projection of angles x in [-pi, pi) with log-scale s: (g_s(x), log g_s'(x))."""
    half = 0.5 * x
    y = 2 * torch.atan(torch.exp(s) * torch.tan(half))
    log_deriv = s - torch.log(torch.cos(half) ** 2 + torch.exp(2 * s) * torch.sin(half) ** 2)
    return y, log_deriv


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


def torch_plaquettes(theta: torch.Tensor) -> torch.Tensor:
    """P(x) of link batches (batch, 2, L0, L1) -> (batch, L0, L1), as twins.lattice.theories.U1.plaquettes."""
    t0, t1 = theta[:, 0], theta[:, 1]
    return t0 + torch.roll(t1, -1, dims=1) - torch.roll(t0, -1, dims=2) - t1


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
        dtype = self.couplings[0].active.dtype
        theta = 2 * math.pi * torch.rand((n, 2, *self.shape), generator=generator, dtype=dtype) - math.pi
        log_q = torch.full((n,), -theta[0].numel() * math.log(2 * math.pi), dtype=dtype)
        for layer in self.couplings:
            theta, log_det = layer(theta)
            log_q = log_q - log_det
        return theta, log_q


def build_flow(theory, settings: dict) -> nn.Module:
    """The flow of settings {layers, hidden, kernel, odd, mixture} for a Phi4 or U1 theory."""
    if theory.name == "phi4":
        return Phi4Flow(
            theory.shape,
            int(settings["layers"]),
            list(settings["hidden"]),
            int(settings["kernel"]),
            bool(settings["odd"]),
        )
    return U1Flow(
        theory.shape,
        int(settings["layers"]),
        list(settings["hidden"]),
        int(settings["kernel"]),
        int(settings["mixture"]),
    )


def torch_action(theory, x: torch.Tensor) -> torch.Tensor:
    """The theory's action on a batch of torch fields (same formulas as twins.lattice.theories)."""
    if theory.name == "phi4":
        density = (2 * theory.dim + theory.m2) * x**2 + theory.lam * x**4
        for axis in range(1, x.dim()):
            density = density - 2.0 * x * torch.roll(x, -1, dims=axis)
        return density.sum(dim=tuple(range(1, x.dim())))
    return -theory.beta * torch.cos(torch_plaquettes(x)).sum(dim=(1, 2))


def effective_sample_size(log_weights: torch.Tensor) -> float:
    """Normalised ESS = (sum w)^2 / (N sum w^2) in [0, 1], from log importance weights."""
    lw = log_weights - log_weights.max()
    w = torch.exp(lw)
    return float(w.sum() ** 2 / (w.numel() * (w**2).sum()))
