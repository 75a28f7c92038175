"""The 3DGAN networks for calorimeter showers, after DetectorSim-3DGAN (Khattak et al., EPJC 82 (2022) 386).

Conventions shared by both networks:
    showers  x (N, nx, ny, nz), model space (see `ShowerTransform`), depth (z) last, no channel axis;
    conditions (N, 2) float32: [E / energy_scale_gev, theta in rad] (`ShowerTransform.encode_conditions`).

The generator follows the original's conditioning: the Gaussian latent vector is multiplied by the scaled
incident energy and the angle is appended. A dense layer feeds a stack of upsampling + Conv3D blocks
(LeakyReLU, BatchNorm) that ends in a ReLU, so cells are non-negative and can be exactly empty.
The discriminator is an auxiliary-classifier network: Conv3D blocks with LeakyReLU and dropout, then
heads for real/fake (a logit), the incident energy and the angle, plus the shower's total visible
energy (ECAL sum) in GeV computed from its input through the inverse transform, which has no weights.

Widths and depth come from the arguments, so the same classes serve the 51x51x25 grid of the original
and a small demo grid. Keras BatchNormalization(momentum=0.99, epsilon=1e-3) is PyTorch's
BatchNorm3d(momentum=0.01, eps=1e-3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from twins.calo.transform import ShowerTransform

# Activations are kept channels-last (N, D, H, W, C in memory): oneDNN's Conv3D is 1.5-3x faster so on the CPU.
MEMORY_FORMAT = torch.channels_last_3d
BATCHNORM_MOMENTUM = 0.01  # Keras momentum 0.99
BATCHNORM_EPS = 1.0e-3
LEAKY_SLOPE = 0.3  # Keras LeakyReLU default


def _upsampling_stages(grid_shape: Sequence[int], n_stages: int) -> list[tuple[int, int, int]]:
    """Grid sizes from the dense layer's output to the full grid, each stage doubling (rounded up) towards it.

    (12, 12, 25) with 2 stages -> [(3, 3, 7), (6, 6, 13), (12, 12, 25)].
    """
    return [tuple(math.ceil(n / 2**k) for n in grid_shape) for k in range(n_stages, -1, -1)]


def _check_grid(grid_shape: Sequence[int]) -> tuple[int, int, int]:
    grid = tuple(int(n) for n in grid_shape)
    if len(grid) != 3 or min(grid) < 1:
        raise ValueError(f"grid_shape must be three positive cell counts (nx, ny, nz); got {grid_shape}")
    return grid


def _check_channels(channels: Sequence[int], name: str) -> list[int]:
    channels = [int(c) for c in channels]
    if not channels or min(channels) < 1:
        raise ValueError(f"{name} must be a non-empty list of positive channel counts; got {channels}")
    return channels


class Generator3D(nn.Module):
    """Conditional shower generator.

    grid_shape: (nx, ny, nz) of the showers it makes.
    latent_size: length of the generator input: `latent_size - 1` Gaussian numbers times E/E_scale,
        followed by theta.
    channels: [c0, c1, ..., ck]: the dense layer outputs c0 channels on the coarsest grid, then each of
        the k blocks upsamples (nearest) towards (nx, ny, nz), convolves to c_i channels, applies
        LeakyReLU and BatchNorm; a last convolution gives one channel, through a ReLU.
    kernel_size: odd Conv3D kernel edge; 'same' padding.
    """

    def __init__(
        self,
        grid_shape: Sequence[int],
        latent_size: int = 256,
        channels: Sequence[int] = (64, 32, 16),
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.grid_shape = _check_grid(grid_shape)
        channels = _check_channels(channels, "generator_channels")
        if latent_size < 2:
            raise ValueError(f"latent_size must be at least 2 (noise and angle); got {latent_size}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive; got {kernel_size}")
        self.latent_size = int(latent_size)
        self.noise_size = self.latent_size - 1
        stages = _upsampling_stages(self.grid_shape, len(channels) - 1)
        self.base_shape = stages[0]
        self.dense = nn.Linear(self.latent_size, channels[0] * math.prod(self.base_shape))
        blocks = []
        for c_in, c_out, size in zip(channels[:-1], channels[1:], stages[1:]):
            blocks += [
                nn.Upsample(size=size, mode="nearest"),
                nn.Conv3d(c_in, c_out, kernel_size, padding=kernel_size // 2),
                nn.LeakyReLU(LEAKY_SLOPE),
                nn.BatchNorm3d(c_out, momentum=BATCHNORM_MOMENTUM, eps=BATCHNORM_EPS),
            ]
        self.blocks = nn.Sequential(*blocks)
        self.to_cells = nn.Conv3d(channels[-1], 1, kernel_size, padding=kernel_size // 2)
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_uniform_(module.weight, a=LEAKY_SLOPE, nonlinearity="leaky_relu")
                nn.init.zeros_(module.bias)
        # a small last layer: the first showers come out faint instead of ~20x too bright, which would
        # cost the ECAL loss the first epoch of a short training
        nn.init.xavier_normal_(self.to_cells.weight, gain=0.1)
        self.to(memory_format=MEMORY_FORMAT)

    def latent_input(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """noise (N, latent_size - 1), conditions (N, 2) -> (N, latent_size): [noise * E/E_scale, theta]."""
        return torch.cat([noise * conditions[:, :1], conditions[:, 1:2]], dim=1)

    def forward(self, noise: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
        """noise (N, latent_size - 1) standard normal, conditions (N, 2) -> showers (N, nx, ny, nz) >= 0."""
        if noise.shape[1] != self.noise_size:
            raise ValueError(f"noise must have {self.noise_size} columns (latent_size - 1); got {noise.shape[1]}")
        h = self.dense(self.latent_input(noise, conditions))
        h = h.view(len(h), -1, *self.base_shape).contiguous(memory_format=MEMORY_FORMAT)
        h = self.to_cells(self.blocks(h))
        return torch.relu(h).squeeze(1)


class DiscriminatorOutput(NamedTuple):
    """What the discriminator says about a batch; every field is (N,)."""

    logit: torch.Tensor  # real (> 0) versus generated (< 0), before the sigmoid
    energy: torch.Tensor  # regressed E / energy_scale_gev
    theta: torch.Tensor  # regressed incidence angle, rad
    ecal_sum_gev: torch.Tensor  # total visible energy of the input through the inverse transform (no weights)


class Discriminator3D(nn.Module):
    """Auxiliary-classifier discriminator with a fixed ECAL-sum head.

    grid_shape: (nx, ny, nz) of the showers it judges.
    transform: the `ShowerTransform` of the training data; the ECAL head sums transform.inverse(x) in GeV.
    channels: [c0, ..., ck]: Conv3D blocks (the first keeps the grid, the others halve it with stride 2),
        each with LeakyReLU and dropout, BatchNorm on all but the first; then 2x2x2 average pooling,
        flattening and three linear heads.
    """

    def __init__(
        self,
        grid_shape: Sequence[int],
        transform: ShowerTransform,
        channels: Sequence[int] = (16, 32, 32),
        kernel_size: int = 3,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.grid_shape = _check_grid(grid_shape)
        channels = _check_channels(channels, "discriminator_channels")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive; got {kernel_size}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1); got {dropout}")
        self.transform = transform
        layers: list[nn.Module] = []
        size = self.grid_shape
        c_in = 1
        for i, c_out in enumerate(channels):
            stride = 1 if i == 0 else 2
            layers += [nn.Conv3d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2)]
            layers += [nn.LeakyReLU(LEAKY_SLOPE)]
            if i > 0:
                layers += [nn.BatchNorm3d(c_out, momentum=BATCHNORM_MOMENTUM, eps=BATCHNORM_EPS)]
            layers += [nn.Dropout(dropout)]
            size = tuple(math.ceil(n / stride) for n in size)
            c_in = c_out
        layers += [nn.AvgPool3d(2, ceil_mode=True), nn.Flatten()]
        size = tuple(math.ceil(n / 2) for n in size)
        self.features = nn.Sequential(*layers)
        n_features = c_in * math.prod(size)
        self.real_fake = nn.Linear(n_features, 1)
        self.energy = nn.Linear(n_features, 1)
        self.theta = nn.Linear(n_features, 1)
        self.to(memory_format=MEMORY_FORMAT)

    def ecal_sum(self, x: torch.Tensor, incident_energy_gev: torch.Tensor) -> torch.Tensor:
        """x (N, nx, ny, nz) model space, incident energy (N,) GeV -> total visible energy (N,) in GeV."""
        return self.transform.inverse(x, incident_energy_gev).sum(dim=(1, 2, 3))

    def forward(self, x: torch.Tensor, incident_energy_gev: torch.Tensor) -> DiscriminatorOutput:
        """x (N, nx, ny, nz) model space; incident energy (N,) GeV, used only by the ECAL head (for the
        E/E_inc transform)."""
        if tuple(x.shape[1:]) != self.grid_shape:
            raise ValueError(f"discriminator built for showers {self.grid_shape}; got {tuple(x.shape[1:])}")
        h = self.features(x.unsqueeze(1).contiguous(memory_format=MEMORY_FORMAT))
        return DiscriminatorOutput(
            logit=self.real_fake(h).squeeze(1),
            energy=self.energy(h).squeeze(1),
            theta=self.theta(h).squeeze(1),
            ecal_sum_gev=self.ecal_sum(x, incident_energy_gev),
        )
