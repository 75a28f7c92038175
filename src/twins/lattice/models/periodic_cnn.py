"""The small convolutional network inside every coupling layer of the lattice flows."""

from __future__ import annotations

from torch import nn


def periodic_cnn(in_channels: int, hidden: list[int], out_channels: int, kernel: int) -> nn.Sequential:
    """Conv layers with circular padding (the lattice is periodic) and LeakyReLU; a final tanh keeps outputs
    bounded. Input (batch, in_channels, L0, L1) -> output (batch, out_channels, L0, L1)."""
    layers: list[nn.Module] = []
    sizes = [in_channels, *hidden, out_channels]
    for i, (c_in, c_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, padding_mode="circular"))
        layers.append(nn.LeakyReLU() if i < len(sizes) - 2 else nn.Tanh())
    return nn.Sequential(*layers)
