"""CaloINN's preprocessing: showers (N, nx, ny, nz) in GeV <-> flow features and back, exactly (see
twins.calo.models.caloinn for the steps)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor


def _logit(v: Tensor, alpha: float) -> Tensor:
    v = alpha + (1.0 - 2.0 * alpha) * v
    return torch.log(v) - torch.log1p(-v)


def _inverse_logit(y: Tensor, alpha: float) -> Tensor:
    return ((torch.sigmoid(y) - alpha) / (1.0 - 2.0 * alpha)).clamp(0.0, 1.0)


@dataclass
class CaloINNPreprocessing:
    """Showers (N, nx, ny, nz) GeV <-> flow features (N, nz * nx * ny + nz); see the module docstring.

    grid_shape: (nx, ny, nz); cell_threshold_gev: cells below are zero after the inverse;
    feature_mean/feature_std: (features,) standardisation of the flow features;
    condition_mean/condition_std: (2,) standardisation of (log E_inc / GeV, theta / rad).
    axis_cells_per_tan: (nz,) depth of each layer's centre over the cell size in x, z_i / cell_size_x: layer i
    is rolled by round(tan(theta) * axis_cells_per_tan[i]) cells; empty (the default, and files written
    before the option) means no alignment. With it, forward/inverse need theta.
    axis_offset_conditions: the conditions also hold, per layer, tan(theta) * axis_cells_per_tan[i] minus the
    cells rolled (`axis_offsets`), so `encode_conditions` gives (N, 2 + nz); False in files before the option.
    feature_min/feature_max: (features,) the standardised features' range over the training showers, the support
    `clamp_to_training_range` keeps generated features in; empty in files written before the option.
    The statistics start as identity and are set from training showers by `fit`.
    """

    grid_shape: tuple[int, int, int]
    cell_threshold_gev: float = 1.0e-4
    noise_level_gev: float = 1.0e-5
    logit_alpha: float = 1.0e-8
    feature_mean: list[float] = field(default_factory=list)
    feature_std: list[float] = field(default_factory=list)
    condition_mean: list[float] = field(default_factory=lambda: [0.0, 0.0])
    condition_std: list[float] = field(default_factory=lambda: [1.0, 1.0])
    axis_cells_per_tan: list[float] = field(default_factory=list)
    axis_offset_conditions: bool = False
    feature_min: list[float] = field(default_factory=list)
    feature_max: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.grid_shape = tuple(int(n) for n in self.grid_shape)
        if len(self.grid_shape) != 3 or min(self.grid_shape) < 1:
            raise ValueError(f"grid_shape must be three positive integers (nx, ny, nz); got {self.grid_shape}")
        if self.noise_level_gev < 0 or self.cell_threshold_gev < 0:
            raise ValueError("noise_level_gev and cell_threshold_gev must be >= 0")
        if not self.feature_mean:
            self.feature_mean = [0.0] * self.features
            self.feature_std = [1.0] * self.features
        if len(self.feature_mean) != self.features or len(self.feature_std) != self.features:
            raise ValueError(f"feature_mean/std must have {self.features} entries for grid {self.grid_shape}")
        if (self.feature_min or self.feature_max) and not (
            len(self.feature_min) == len(self.feature_max) == self.features
        ):
            raise ValueError(f"feature_min/max must have {self.features} entries for grid {self.grid_shape}")
        if self.axis_offset_conditions and not self.axis_cells_per_tan:
            raise ValueError("axis_offset_conditions needs axis_cells_per_tan (layers aligned to the incident axis)")
        if self.axis_cells_per_tan and len(self.axis_cells_per_tan) != self.layers:
            raise ValueError(
                f"axis_cells_per_tan must have {self.layers} entries (one per layer); got "
                f"{len(self.axis_cells_per_tan)}"
            )

    def _axis_shift(self, theta: Tensor) -> Tensor:
        """(N, nz) float64: the incident axis' x position in every layer relative to the front face's, in cells."""
        per_tan = torch.as_tensor(self.axis_cells_per_tan, dtype=torch.float64, device=theta.device)
        return torch.tan(theta.double())[:, None] * per_tan

    def axis_offsets(self, theta: Tensor) -> Tensor:
        """(N, nz) float64 in [-0.5, 0.5]: where the axis crosses each layer relative to the rolled cells."""
        shift = self._axis_shift(theta)
        return shift - torch.round(shift)

    def _roll_to_axis(self, cells: Tensor, theta: Tensor | None, sign: int) -> Tensor:
        """Cells (N, nx, ny, nz) rolled along x by -sign * k_i per layer (sign +1: align, -1: undo)."""
        if not self.axis_cells_per_tan:
            return cells
        if theta is None:
            raise ValueError("this CaloINN preprocessing aligns layers to the incident axis: pass theta (rad)")
        shift = torch.round(self._axis_shift(theta.to(cells.device))).long()  # (N, nz)
        nx = self.grid_shape[0]
        x = torch.arange(nx, device=cells.device)
        source = (x[None, :, None] + sign * shift[:, None, :]) % nx  # (N, nx, nz): aligned[x] = cells[x + k]
        index = source[:, :, None, :].expand(-1, -1, self.grid_shape[1], -1)
        return torch.gather(cells, 1, index)

    @property
    def cells_per_layer(self) -> int:
        return self.grid_shape[0] * self.grid_shape[1]

    @property
    def layers(self) -> int:
        return self.grid_shape[2]

    @property
    def features(self) -> int:
        return self.layers * self.cells_per_layer + self.layers

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _stats(self, like: Tensor) -> tuple[Tensor, Tensor]:
        return (
            torch.as_tensor(self.feature_mean, dtype=like.dtype, device=like.device),
            torch.as_tensor(self.feature_std, dtype=like.dtype, device=like.device),
        )

    def raw_features(
        self, cells: Tensor, energy: Tensor, noise: torch.Generator | None = None, theta: Tensor | None = None
    ) -> Tensor:
        """Steps 1-4: cells (N, nx, ny, nz) GeV, energy (N,) GeV -> unstandardised features (N, features).

        noise: the generator of the dequantisation noise; None adds no noise (an exact round trip).
        theta: (N,) rad, needed with axis alignment.
        """
        n = cells.shape[0]
        layers, layer_energy = self._noisy_layers(cells, noise, theta)
        safe = torch.where(layer_energy > 0, layer_energy, torch.ones_like(layer_energy))
        fractions = torch.where(  # an empty layer gets even fractions: any value inverts to zero cells
            (layer_energy > 0)[..., None], layers / safe[..., None], torch.full_like(layers, 1.0 / layers.shape[2])
        )
        return torch.cat(
            [_logit(fractions.reshape(n, -1).clamp(0.0, 1.0), self.logit_alpha), self._layer_raw(layer_energy, energy)],
            dim=1,
        )

    def _noisy_layers(
        self, cells: Tensor, noise: torch.Generator | None, theta: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """(aligned cells (N, nz, nx*ny) with the dequantisation noise, layer energies (N, nz))."""
        n = cells.shape[0]
        cells = self._roll_to_axis(cells, theta, +1)
        layers = cells.reshape(n, self.cells_per_layer, self.layers).transpose(1, 2)  # (N, nz, nx*ny)
        if noise is not None and self.noise_level_gev > 0:
            u = torch.rand(layers.shape, generator=noise, dtype=layers.dtype).to(layers.device)
            layers = layers + self.noise_level_gev * u
        return layers, layers.sum(dim=2)

    def _layer_raw(self, layer_energy: Tensor, energy: Tensor) -> Tensor:
        """Unstandardised layer variables [log u0, logit u_0 .. u_{nz-2}] (N, nz) of layer energies (N, nz)."""
        total = layer_energy.sum(dim=1)
        u0 = total / energy.to(total.dtype)
        remaining = torch.flip(torch.cumsum(torch.flip(layer_energy, [1]), dim=1), [1])  # sum_{j>=i} E_j
        u = torch.where(remaining > 0, layer_energy / torch.where(remaining > 0, remaining, 1.0), 0.0)
        u = u[:, :-1].clamp(0.0, 1.0)
        tiny = torch.finfo(total.dtype).tiny
        return torch.cat([torch.log(u0.clamp(min=tiny))[:, None], _logit(u, self.logit_alpha)], dim=1)

    def layer_variables(
        self, cells: Tensor, energy: Tensor, noise: torch.Generator | None = None, theta: Tensor | None = None
    ) -> Tensor:
        """The last nz columns of `forward` (standardised layer variables, (N, nz)) with the same noise draws,
        without the cost of the cell fractions: what Flow I trains on."""
        mean, std = self._stats(cells)
        _, layer_energy = self._noisy_layers(cells, noise, theta)
        return (self._layer_raw(layer_energy, energy) - mean[-self.layers :]) / std[-self.layers :]

    def forward(
        self, cells: Tensor, energy: Tensor, noise: torch.Generator | None = None, theta: Tensor | None = None
    ) -> Tensor:
        """Cells (N, nx, ny, nz) GeV, energy (N,) GeV[, theta (N,) rad] -> standardised features (N, features)."""
        mean, std = self._stats(cells)
        return (self.raw_features(cells, energy, noise, theta) - mean) / std

    def inverse(self, features: Tensor, energy: Tensor, theta: Tensor | None = None) -> Tensor:
        """Standardised features (N, features), energy (N,) GeV[, theta (N,) rad] -> cells (N, nx, ny, nz) in
        GeV, thresholded."""
        mean, std = self._stats(features)
        y = features * std + mean
        n, nz, ncell = y.shape[0], self.layers, self.cells_per_layer
        fractions = _inverse_logit(y[:, : nz * ncell], self.logit_alpha).reshape(n, nz, ncell)
        norm = fractions.sum(dim=2, keepdim=True)
        fractions = torch.where(norm > 0, fractions / torch.where(norm > 0, norm, 1.0), 1.0 / ncell)
        total = torch.exp(y[:, nz * ncell].clamp(max=20.0)) * energy.to(y.dtype)  # clamp: no inf from outliers
        u = _inverse_logit(y[:, nz * ncell + 1 :], self.logit_alpha)  # (N, nz - 1)
        layer_energy = []
        remaining = total
        for i in range(nz - 1):
            e_i = u[:, i] * remaining
            layer_energy.append(e_i)
            remaining = (remaining - e_i).clamp(min=0.0)
        layer_energy.append(remaining)
        cells = fractions * torch.stack(layer_energy, dim=1)[..., None]  # (N, nz, nx*ny)
        cells = self._roll_to_axis(cells.transpose(1, 2).reshape(n, *self.grid_shape), theta, -1)
        return cells * (cells >= self.cell_threshold_gev)

    @property
    def conditions(self) -> int:
        """Columns of `encode_conditions`: 2, plus nz with axis_offset_conditions."""
        return 2 + (self.layers if self.axis_offset_conditions else 0)

    def encode_conditions(self, energy: Tensor, theta: Tensor) -> Tensor:
        """(N, 2) standardised [log(E_inc / GeV), theta / rad], float32; with axis_offset_conditions followed by
        the nz `axis_offsets` times 2 (in [-1, 1])."""
        c = torch.stack([torch.log(energy.double()), theta.double()], dim=1)
        mean = torch.as_tensor(self.condition_mean, dtype=torch.float64)
        std = torch.as_tensor(self.condition_std, dtype=torch.float64)
        c = (c - mean.to(c.device)) / std.to(c.device)
        if self.axis_offset_conditions:
            c = torch.cat([c, 2.0 * self.axis_offsets(theta.to(c.device))], dim=1)
        return c.float()

    def fit(self, cells: Tensor, energy: Tensor, theta: Tensor, noise: torch.Generator) -> None:
        """Set the standardisation statistics from training showers (with one draw of the noise)."""
        y = self.raw_features(cells.double(), energy.double(), noise, theta)
        self.feature_mean = y.mean(dim=0).tolist()
        self.feature_std = y.std(dim=0).clamp(min=1e-6).tolist()
        mean, std = self._stats(y)
        standardised = (y - mean) / std
        self.feature_min = standardised.min(dim=0).values.tolist()
        self.feature_max = standardised.max(dim=0).values.tolist()
        c = torch.stack([torch.log(energy.double()), theta.double()], dim=1)
        self.condition_mean = c.mean(dim=0).tolist()
        spread = c.std(dim=0) if len(c) > 1 else torch.ones(2, dtype=torch.float64)
        self.condition_std = torch.where(spread > 1e-6, spread, 1.0).tolist()

    @property
    def has_training_range(self) -> bool:
        return bool(self.feature_min)

    def clamp_to_training_range(self, features: Tensor) -> Tensor:
        """Standardised features (N, features) clipped to the training showers' range of each feature.

        A flow trained on a few thousand showers puts a small share of its samples (about 0.1 % of the feature
        values on the demo) outside anything the training set holds: a cell far from the core with a large
        share of its layer. After the per-layer renormalisation one such hot cell moves the layer's centre of
        energy by a whole cell. Clipping to the training range removes them and leaves the bulk untouched."""
        if not self.has_training_range:
            raise ValueError(
                "this preprocessing holds no training range (a model file written before it); "
                "retrain, or sample without clamp_to_training_range"
            )
        low = torch.as_tensor(self.feature_min, dtype=features.dtype, device=features.device)
        high = torch.as_tensor(self.feature_max, dtype=features.dtype, device=features.device)
        return torch.maximum(torch.minimum(features, high), low)
