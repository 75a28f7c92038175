"""GlitchFlow: a U-Net with residual blocks and attention-gated skip connections.

Maps the selected auxiliary channels' Q-transform amplitude + phase spectrograms, the p predicted
fringe maps and the r scattered-field maps, (B, 2k + p + r, F, T), to the strain's amplitude spectrogram
sqrt(E), (B, F, T). F and T must be divisible by 2**(levels-1).
Inputs are conditioned inside the model: amplitudes (which span decades in loud witnesses) go through
log1p, phases through (sin, cos); every fringe map is also multiplied by every field map, because an
arch's amplitude is the scattered field (how loud) where the fringe frequency lies (where), a product a
stack of ReLU convolutions only approximates; a last map holds the row's log-frequency in [-1, 1] so the
network can learn the strain noise's frequency dependence (convolutions alone are translation invariant).
Callers pass the TFrame tensors unchanged.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ResidualBlock(nn.Module):
    """Two 3x3 conv + batch-norm + ReLU layers with an identity (or 1x1) shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class AttentionGate(nn.Module):
    """Additive attention (Oktay et al. 2018): the decoder's gating signal weighs the skip features
    pixel by pixel, alpha = sigmoid(psi(relu(W_x x + W_g g))), so the skip passes only where it matters."""

    def __init__(self, c_skip: int, c_gate: int, c_inner: int) -> None:
        super().__init__()
        self.w_x = nn.Conv2d(c_skip, c_inner, 1)
        self.w_g = nn.Conv2d(c_gate, c_inner, 1)
        self.psi = nn.Conv2d(c_inner, 1, 1)

    def forward(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        alpha = torch.sigmoid(self.psi(F.relu(self.w_x(skip) + self.w_g(gate))))
        return skip * alpha


class GlitchFlow(nn.Module):
    """U-Net: channels[i] features at level i (resolution halves per level)."""

    def __init__(self, n_aux: int, channels: list[int] = (16, 32, 64), n_fringe: int = 0, n_power: int = 0) -> None:
        super().__init__()
        channels = list(channels)
        self.n_aux, self.n_fringe, self.n_power = n_aux, n_fringe, n_power
        self.n_inputs = 2 * n_aux + n_fringe + n_power
        self.levels = len(channels)
        self.encoders = nn.ModuleList()
        # log1p(amplitude), sin(phase), cos(phase) per channel; fringe maps; log1p(field) maps;
        # fringe x field products; the frequency coordinate
        c_prev = 3 * n_aux + n_fringe + n_power + n_fringe * n_power + 1
        for c in channels:
            self.encoders.append(ResidualBlock(c_prev, c))
            c_prev = c
        self.ups, self.gates, self.decoders = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        for c_skip in reversed(channels[:-1]):
            self.ups.append(nn.ConvTranspose2d(c_prev, c_skip, 2, stride=2))
            self.gates.append(AttentionGate(c_skip, c_skip, max(c_skip // 2, 1)))
            self.decoders.append(ResidualBlock(2 * c_skip, c_skip))
            c_prev = c_skip
        self.head = nn.Conv2d(c_prev, 1, 1)

    def condition(self, x: torch.Tensor) -> torch.Tensor:
        pairs = x[:, : 2 * self.n_aux]
        amplitude, phase = pairs[:, 0::2], pairs[:, 1::2]
        start = 2 * self.n_aux
        fringe = x[:, start : start + self.n_fringe]
        field = x[:, start + self.n_fringe : start + self.n_fringe + self.n_power]
        products = (fringe[:, :, None] * field[:, None, :]).flatten(1, 2)
        rows = torch.linspace(-1.0, 1.0, x.shape[2], device=x.device, dtype=x.dtype)
        coordinate = rows[None, None, :, None].expand(x.shape[0], 1, x.shape[2], x.shape[3])
        return torch.cat(
            [
                torch.log1p(amplitude),
                torch.sin(phase),
                torch.cos(phase),
                fringe,
                torch.log1p(field),
                products,
                coordinate,
            ],
            dim=1,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.n_inputs:
            raise ValueError(
                f"GlitchFlow expects {self.n_inputs} input maps (amplitude+phase of {self.n_aux} "
                f"channels, {self.n_fringe} fringe maps, {self.n_power} field maps), got {x.shape[1]}"
            )
        h = self.condition(x)
        skips = []
        for i, encoder in enumerate(self.encoders):
            h = encoder(h if i == 0 else F.max_pool2d(h, 2))
            skips.append(h)
        for up, gate, decoder, skip in zip(self.ups, self.gates, self.decoders, reversed(skips[:-1])):
            h = up(h)
            h = decoder(torch.cat([gate(skip, h), h], dim=1))
        return F.softplus(self.head(h)).squeeze(1)
