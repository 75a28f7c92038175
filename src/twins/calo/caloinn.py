"""CaloINN: a conditional normalizing flow over calorimeter showers (after Ernst et al., arXiv:2312.09290).

Preprocessing (`CaloINNPreprocessing`), for showers of nx x ny x nz cells in GeV with z the depth layer:
    1. dequantisation: uniform noise in [0, noise_level_gev) is added to every cell, so that empty cells
       become a continuous distribution (the noise stays below the readout threshold, which the inverse
       reapplies, so it never survives generation);
    2. layer energies E_i = sum of the cells of layer i; cells become fractions of their layer, e / E_i;
    3. layer variables u0 = sum_i E_i / E_inc and u_i = E_i / sum_{j>=i} E_j for i = 0 .. nz-2 (the last
       one is 1 by construction and left out);
    4. fractions and u_i (all in [0, 1]) go through logit(alpha + (1 - 2 alpha) v), u0 through log;
    5. every feature is standardised with the mean and spread of the training set.
Before step 1, with axis alignment (`axis_cells_per_tan`, setting `align_to_axis`), every layer is rolled
cyclically along x by round(z_i tan(theta) / cell_size_x) cells, z_i the depth of the layer's centre: a shower
entering at the front face's centre at angle theta in the x-z plane then has its core in the same cells
whatever theta, so the flow learns the shape rather than a theta-dependent position. A cyclic roll is a
permutation of cells, undone exactly by the inverse.
The flow's features are [layer-major cell fractions (nz * nx * ny), log u0, u_0 .. u_{nz-2}]; its context is
the standardised (log E_inc, theta). The inverse undoes each step exactly, renormalising the cell fractions
of each layer to one (the flow does not enforce it) and reapplying the cell threshold.

Flow (`CaloINNFlow`): `blocks` rational-quadratic spline coupling transforms (zuko's
`GeneralCouplingTransform` with `MonotonicRQSTransform`), each with its own fixed random half of the
features as the conditioning half, which plays the role of CaloINN's random permutations; the
standardisation of step 5 plays the role of its ActNorm at the input and, with `actnorm`, a learned
per-feature affine map follows every block as CaloINN's ActNorm layers. Base distribution: standard normal.

Two flows (`TwoFlowCaloINN`, setting `energy_flow`, the default), as in CaloFlow (Krause & Shih,
arXiv:2106.05285): Flow I (`EnergyFlow`, autoregressive splines) models the nz layer variables given the
conditions, so the correlations between layer energies (how deep the shower starts) are learned explicitly;
Flow II, the coupling flow above, models the cell fractions given the conditions and the layer variables.
Both act on the same preprocessed features, so the preprocessing and its exact inverse are shared.

Flow II layer by layer (`LayerwiseShapeFlow`, setting `shape_flow: layerwise`), after L2LFlows (Buss et al.,
arXiv:2302.11594): one coupling flow over a single layer's nx * ny fractions, its weights shared by all nz
layers, conditioned on the conditions, all layer variables and the layer's one-hot index (and, with
`shape_flow_previous_layer`, the previous layer's fractions). With a few thousand training showers the joint
flow over all nz * nx * ny fractions sees one sample per shower of a problem with thousands of dimensions and
learns the transverse shape poorly; the shared flow sees nz samples per shower of a problem nz times smaller.
With `axis_offset_conditions`, the conditions also carry, per layer, the part of the axis' shift that the
integer roll leaves (`CaloINNPreprocessing.axis_offsets`, in [-0.5, 0.5] cells): where the core sits inside its
cell, a sawtooth in theta that a flow given only theta hardly learns; Flow II reads layer i's value with layer i.
Measured on the demo (3000 GFlash showers, 25 epochs; test-set low-level classifier AUC / FPD): joint Flow II
0.98 / 354, layerwise 0.92 / 50, autoregressive over layers 0.88 / 49, with [128, 128] sub-networks 0.84 / 44,
and with the axis offsets 0.69 / 22 (simulation vs simulation 0.48 / 3.3). Sampling with the generated features
clipped to the training range (`CaloINNPreprocessing.clamp_to_training_range`) then gives 0.72 / 7.0: the clip
removes the rare hot cells that set the FPD.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import zuko
from torch import Tensor

# The defaults are a small flow (joint Flow II): on the default 12x12x25 grid (3625 features) with ~2100 training
# showers, about 16 s per epoch at batch size 128 on two uncontended CPU cores; generation about 300 showers/s
# with one flow, fewer with two (Flow I inverts its autoregressive transforms one layer variable at a time). The
# demo config trains with batch size 32, a one-cycle schedule, ActNorm and the layer-wise, autoregressive Flow II
# with [128, 128] sub-networks and the axis offsets: about 20 s per epoch on two CPU cores (a little less than
# the joint Flow II), generation about 190 showers/s (25 sequential layer passes). The published CaloINN is far
# larger (more blocks, wider sub-networks, more bins, hundreds of epochs on a GPU). The cost is dominated by the
# splines (softmax over bins for every transformed feature), so `bins` and `blocks` set the time more than
# `hidden_features`.
DEFAULT_SETTINGS: dict[str, Any] = {
    "epochs": 20,
    "batch_size": 128,
    "learning_rate": 1.0e-3,
    "lr_schedule": "exponential",  # "exponential", "constant" or "one_cycle" (per batch, peak learning_rate)
    "lr_decay": 0.93,  # learning-rate factor per epoch for the exponential schedule
    "grad_clip": 10.0,  # max gradient norm; 0 switches clipping off
    "blocks": 6,  # coupling transforms
    "hidden_features": [64],  # hidden layers of each coupling block's sub-network
    "bins": 6,  # spline bins
    "spline_bound": 5.0,  # splines act on [-bound, bound] (standardised units), identity outside
    "actnorm": False,  # a learned per-feature affine map (ActNorm) after every coupling block
    "noise_level_gev": 1.0e-5,  # dequantisation noise; keep it well below the cell threshold
    # roll every layer back along the incident axis (needs geometry cell_size_x_mm and layer_thickness_mm);
    # without it the flows ignore the theta-dependent position of the core and make showers too wide
    "align_to_axis": True,
    "logit_alpha": 1.0e-8,  # small, so that noise-only cells sit apart from real ones in logit space
    "patience": 5,  # early stopping on val_loss (when a validation file is given)
    "processes": 1,  # data-parallel training processes (torchrun); batch_size stays the effective batch
    # Two flows (CaloFlow, Krause & Shih arXiv:2106.05285): Flow I, an autoregressive spline flow over the nz
    # layer variables given the conditions, and the coupling flow above as Flow II over the cell fractions given
    # the conditions and the layer variables. One coupling flow over everything learns each layer's energy but
    # not how the layers move together (the depth of the shower maximum); a small autoregressive flow does.
    # false: one coupling flow over all features (the model of files written before the option).
    "energy_flow": True,
    "energy_flow_transforms": 4,  # autoregressive spline transforms of Flow I
    "energy_flow_hidden_features": [64, 64],
    "energy_flow_bins": 8,
    "energy_flow_passes": 2,  # passes of Flow I over the training set per epoch: it is cheap and needs many
    "energy_flow_batch_size": 128,
    "energy_flow_learning_rate": 2.0e-3,  # peak (one_cycle) or initial rate of Flow I, same schedule kind
    # Flow II's shape: "joint", one coupling flow over all nz * nx * ny cell fractions (files written before the
    # option), or "layerwise", one coupling flow over one layer's nx * ny fractions shared by all layers and told
    # which layer it models (L2LFlows, Buss et al. arXiv:2302.11594): nz times the samples of a 1/nz-sized problem
    "shape_flow": "joint",
    # layerwise only: condition each layer also on the previous layer's fractions (autoregressive, as L2LFlows),
    # so the core position and width carry over from layer to layer; sampling then runs layer by layer
    "shape_flow_previous_layer": False,
    # with align_to_axis: add to the conditions, per layer, where the incident axis crosses the layer relative to
    # the centre of the rolled cells (z_i tan(theta) / cell_size_x minus the whole cells rolled, in [-0.5, 0.5]):
    # the core's sub-cell position, which the integer roll leaves behind and which a flow hardly learns from theta
    "axis_offset_conditions": False,
}
ENERGY_FLOW_ARCHITECTURE_KEYS = (
    "energy_flow",
    "energy_flow_transforms",
    "energy_flow_hidden_features",
    "energy_flow_bins",
)
ARCHITECTURE_KEYS = (
    "blocks",
    "hidden_features",
    "bins",
    "spline_bound",
    "actnorm",
    *ENERGY_FLOW_ARCHITECTURE_KEYS,
    "shape_flow",
    "shape_flow_previous_layer",
    "axis_offset_conditions",
)
LR_SCHEDULES = ("exponential", "constant", "one_cycle")
SHAPE_FLOWS = ("joint", "layerwise")


def resolve_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """The `calo.train.caloinn` settings with defaults filled in; ValueError naming any unknown key or bad value."""
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(DEFAULT_SETTINGS))
    if unknown:
        raise ValueError(f"unknown calo.train.caloinn key(s) {unknown}; allowed: {sorted(DEFAULT_SETTINGS)}")
    out = {**DEFAULT_SETTINGS, **settings}
    hidden = out["hidden_features"]
    out["hidden_features"] = [hidden] if isinstance(hidden, (int, np.integer)) else list(hidden)
    hidden = out["energy_flow_hidden_features"]
    out["energy_flow_hidden_features"] = [hidden] if isinstance(hidden, (int, np.integer)) else list(hidden)

    def need(ok: bool, key: str, what: str) -> None:
        if not ok:
            raise ValueError(f"calo.train.caloinn.{key} must be {what}; got {out[key]!r}")

    def is_int(value: Any) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

    for key in (
        "epochs",
        "batch_size",
        "blocks",
        "bins",
        "processes",
        "energy_flow_transforms",
        "energy_flow_bins",
        "energy_flow_passes",
        "energy_flow_batch_size",
    ):
        need(is_int(out[key]) and out[key] >= 1, key, "a positive integer")
    need(out["bins"] >= 2, "bins", "at least 2")
    need(out["energy_flow_bins"] >= 2, "energy_flow_bins", "at least 2")
    need(isinstance(out["energy_flow"], bool), "energy_flow", "true or false")
    need(isinstance(out["align_to_axis"], bool), "align_to_axis", "true or false")
    need(float(out["energy_flow_learning_rate"]) > 0, "energy_flow_learning_rate", "positive")
    need(is_int(out["patience"]) and out["patience"] >= 1, "patience", "a positive integer")
    need(
        len(out["hidden_features"]) >= 1 and all(is_int(h) and h >= 1 for h in out["hidden_features"]),
        "hidden_features",
        "a positive integer or a non-empty list of them",
    )
    out["hidden_features"] = [int(h) for h in out["hidden_features"]]
    need(
        len(out["energy_flow_hidden_features"]) >= 1
        and all(is_int(h) and h >= 1 for h in out["energy_flow_hidden_features"]),
        "energy_flow_hidden_features",
        "a positive integer or a non-empty list of them",
    )
    out["energy_flow_hidden_features"] = [int(h) for h in out["energy_flow_hidden_features"]]
    need(out["lr_schedule"] in LR_SCHEDULES, "lr_schedule", f"one of {list(LR_SCHEDULES)}")
    need(float(out["learning_rate"]) > 0, "learning_rate", "positive")
    need(0 < float(out["lr_decay"]) <= 1, "lr_decay", "in (0, 1]")
    need(float(out["grad_clip"]) >= 0, "grad_clip", ">= 0")
    need(float(out["spline_bound"]) > 0, "spline_bound", "positive")
    need(isinstance(out["actnorm"], bool), "actnorm", "true or false")
    need(float(out["noise_level_gev"]) >= 0, "noise_level_gev", ">= 0")
    need(0 < float(out["logit_alpha"]) < 0.01, "logit_alpha", "in (0, 0.01)")
    need(out["shape_flow"] in SHAPE_FLOWS, "shape_flow", f"one of {list(SHAPE_FLOWS)}")
    need(isinstance(out["shape_flow_previous_layer"], bool), "shape_flow_previous_layer", "true or false")
    need(isinstance(out["axis_offset_conditions"], bool), "axis_offset_conditions", "true or false")
    if out["axis_offset_conditions"] and not out["align_to_axis"]:
        raise ValueError(
            "calo.train.caloinn.axis_offset_conditions needs align_to_axis: true (the offsets are what the roll "
            "leaves over); set align_to_axis: true or axis_offset_conditions: false"
        )
    if out["shape_flow"] == "layerwise" and not out["energy_flow"]:
        raise ValueError(
            "calo.train.caloinn.shape_flow: layerwise needs energy_flow: true (each layer's flow is conditioned "
            "on the layer energies that Flow I samples); set energy_flow: true or shape_flow: joint"
        )
    return out


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


class CaloINNFlow(torch.nn.Module):
    """Conditional density over CaloINN features: log_prob(x (N, F), c (N, 2)) -> (N,) nats,
    sample_from_noise(z (N, F), c) -> x (N, F), the flow's inverse applied to base-space points."""

    def __init__(
        self,
        features: int,
        context: int = 2,
        blocks: int = 6,
        hidden_features: list[int] | int = (64,),
        bins: int = 6,
        spline_bound: float = 5.0,
        actnorm: bool = False,
    ) -> None:
        super().__init__()
        if features < 2:
            raise ValueError(f"a coupling flow needs at least 2 features; got {features}")
        hidden = [hidden_features] if isinstance(hidden_features, int) else list(hidden_features)
        self.features = features
        transforms = []
        for b in range(blocks):
            # a fixed random half per block, reproducible whatever the training seed (rebuilt on load)
            order = torch.randperm(features, generator=torch.Generator().manual_seed(7919 + b))
            mask = torch.zeros(features, dtype=torch.bool)
            mask[order[: features // 2]] = True
            transforms.append(
                zuko.flows.GeneralCouplingTransform(
                    features,
                    context,
                    mask=mask,
                    univariate=_bounded_rqs(float(spline_bound)),
                    shapes=[(bins,), (bins,), (bins - 1,)],
                    hidden_features=hidden,
                )
            )
            if actnorm:  # ActNorm: learned shift and log-scale per feature, starting as the identity
                transforms.append(
                    zuko.flows.UnconditionalTransform(
                        zuko.transforms.MonotonicAffineTransform, torch.zeros(features), torch.zeros(features)
                    )
                )
        base = zuko.flows.UnconditionalDistribution(
            zuko.distributions.DiagNormal, torch.zeros(features), torch.ones(features), buffer=True
        )
        self.flow = zuko.flows.Flow(transforms, base)

    def log_prob(self, x: Tensor, c: Tensor) -> Tensor:
        return self.flow(c).log_prob(x)

    def sample_from_noise(self, z: Tensor, c: Tensor) -> Tensor:
        return self.flow(c).transform.inv(z)


class EnergyFlow(torch.nn.Module):
    """Flow I of the two-flow model: the density of the nz standardised layer variables [log u0, logit u_i]
    given the first `context` columns of the standardised conditions, a masked autoregressive rational-quadratic
    spline flow (zuko's NSF), so that every layer variable is modelled given all earlier ones:
    log_prob(x (N, nz), c (N, >= context)) -> (N,) nats, sample_from_noise(z (N, nz), c) -> x (N, nz)."""

    def __init__(
        self,
        layers: int,
        context: int = 2,
        transforms: int = 4,
        hidden_features: list[int] | int = (64, 64),
        bins: int = 8,
    ) -> None:
        super().__init__()
        hidden = [hidden_features] if isinstance(hidden_features, int) else list(hidden_features)
        self.features, self.context = layers, context
        self.flow = zuko.flows.NSF(layers, context, transforms=transforms, bins=bins, hidden_features=hidden)

    # only the first `context` columns: the per-layer axis offsets that may follow are Flow II's (given them,
    # Flow I overfits the demo's few showers: validation loss 0.50 against 0.39 without)
    def log_prob(self, x: Tensor, c: Tensor) -> Tensor:
        return self.flow(c[:, : self.context]).log_prob(x)

    def sample_from_noise(self, z: Tensor, c: Tensor) -> Tensor:
        return self.flow(c[:, : self.context]).transform.inv(z)


class LayerwiseShapeFlow(torch.nn.Module):
    """Flow II as one coupling flow over a single layer's cells, shared by all layers (L2LFlows,
    arXiv:2302.11594): log_prob(x (N, nz * ncell), context (N, C)) -> (N,) nats, the sum over layers;
    sample_from_noise(z (N, nz * ncell), context) -> x (N, nz * ncell).

    x holds the standardised cell fractions layer-major (layer i is x[:, i * ncell : (i + 1) * ncell]); the
    context is the two-flow model's [conditions (2, or 2 + nz with axis offsets), layer variables (nz)]. The
    flow of layer i sees that context, the one-hot of i and, with `previous_layer`, layer i - 1's standardised
    fractions (zeros for the first layer); with `per_layer_context` = k, context columns k .. k + nz - 1 hold
    one value per layer and layer i's flow also sees column k + i on its own.
    p(x | c) = prod_i p(x_i | c, i[, x_{i-1}]) is exact for any parameters, so one pass over all N * nz layer
    samples trains it, and without `previous_layer` one pass also samples it; with it, sampling inverts layer
    by layer (nz passes of N samples)."""

    def __init__(
        self,
        layers: int,
        cells_per_layer: int,
        context: int,
        previous_layer: bool = False,
        per_layer_context: int | None = None,
        **coupling: Any,
    ) -> None:
        super().__init__()
        self.layers, self.cells_per_layer, self.previous_layer = int(layers), int(cells_per_layer), bool(previous_layer)
        self.per_layer_context = per_layer_context
        self.features = self.layers * self.cells_per_layer
        layer_context = context + self.layers + (self.cells_per_layer if self.previous_layer else 0)
        layer_context += 1 if per_layer_context is not None else 0
        self.layer_flow = CaloINNFlow(self.cells_per_layer, context=layer_context, **coupling)
        self.register_buffer("one_hot", torch.eye(self.layers), persistent=False)

    def _contexts(self, context: Tensor, previous: Tensor | None) -> Tensor:
        """(N, nz, layer context) of context (N, C) and previous-layer fractions (N, nz, ncell) or None."""
        n = context.shape[0]
        parts = [context[:, None, :].expand(n, self.layers, -1), self.one_hot[None].expand(n, -1, -1).to(context)]
        if self.per_layer_context is not None:  # layer i's own value, e.g. its axis offset, next to its one-hot
            start = self.per_layer_context
            parts.append(context[:, start : start + self.layers, None])
        if self.previous_layer:
            parts.append(previous)
        return torch.cat(parts, dim=2)

    def log_prob(self, x: Tensor, context: Tensor) -> Tensor:
        n = x.shape[0]
        cells = x.reshape(n, self.layers, self.cells_per_layer)
        previous = torch.cat([torch.zeros_like(cells[:, :1]), cells[:, :-1]], dim=1) if self.previous_layer else None
        ctx = self._contexts(context, previous)
        log_prob = self.layer_flow.log_prob(cells.reshape(n * self.layers, -1), ctx.reshape(n * self.layers, -1))
        return log_prob.reshape(n, self.layers).sum(dim=1)

    def sample_from_noise(self, z: Tensor, context: Tensor) -> Tensor:
        n = z.shape[0]
        z = z.reshape(n, self.layers, self.cells_per_layer)
        if not self.previous_layer:
            ctx = self._contexts(context, None).reshape(n * self.layers, -1)
            return self.layer_flow.sample_from_noise(z.reshape(n * self.layers, -1), ctx).reshape(n, -1)
        ctx = self._contexts(context, torch.zeros_like(z))  # the previous-layer slots are filled as we go
        previous = torch.zeros_like(z[:, 0])
        out = []
        for i in range(self.layers):
            layer_ctx = torch.cat([ctx[:, i, : -self.cells_per_layer], previous], dim=1)
            previous = self.layer_flow.sample_from_noise(z[:, i], layer_ctx)
            out.append(previous)
        return torch.stack(out, dim=1).reshape(n, -1)


class TwoFlowCaloINN(torch.nn.Module):
    """CaloINN as two conditional flows (CaloFlow, arXiv:2106.05285) over the same features as `CaloINNFlow`,
    [cell fractions (F - nz), layer variables (nz)]: p(x | c) = p_I(layers | c) p_II(fractions | c, layers).

    energy_flow: Flow I (`EnergyFlow`); shape_flow: Flow II, a `CaloINNFlow` over all cell fractions or a
    `LayerwiseShapeFlow`, whose context is the conditions followed by the standardised layer variables.
    Trained on the true layer variables; sampling draws the layer variables from Flow I first. The base-space
    vector z (N, F) splits the same way as x."""

    def __init__(self, energy_flow: EnergyFlow, shape_flow: CaloINNFlow | LayerwiseShapeFlow) -> None:
        super().__init__()
        self.energy_flow = energy_flow
        self.shape_flow = shape_flow
        self.cell_features = shape_flow.features
        self.features = shape_flow.features + energy_flow.features

    def split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(cell fractions (N, F - nz), layer variables (N, nz)) of features x (N, F)."""
        return x[:, : self.cell_features], x[:, self.cell_features :]

    @staticmethod
    def shape_context(c: Tensor, layer_variables: Tensor) -> Tensor:
        return torch.cat([c, layer_variables], dim=1)

    def log_prob(self, x: Tensor, c: Tensor) -> Tensor:
        cells, layers = self.split(x)
        return self.energy_flow.log_prob(layers, c) + self.shape_flow.log_prob(cells, self.shape_context(c, layers))

    def sample_from_noise(self, z: Tensor, c: Tensor) -> Tensor:
        z_cells, z_layers = self.split(z)
        layers = self.energy_flow.sample_from_noise(z_layers, c)
        cells = self.shape_flow.sample_from_noise(z_cells, self.shape_context(c, layers))
        return torch.cat([cells, layers], dim=1)


class _bounded_rqs:  # noqa: N801 - a picklable stand-in for functools.partial(MonotonicRQSTransform, bound=...)
    def __init__(self, bound: float) -> None:
        self.bound = bound

    def __call__(self, *params: Tensor) -> zuko.transforms.MonotonicRQSTransform:
        return zuko.transforms.MonotonicRQSTransform(*params, bound=self.bound)

    def __repr__(self) -> str:
        return f"MonotonicRQSTransform(bound={self.bound})"


def build_flow(settings: dict[str, Any], features: int, layers: int | None = None) -> CaloINNFlow | TwoFlowCaloINN:
    """The flow described by (resolved or architecture-only) settings, over `features` CaloINN features of
    which the last `layers` are the layer variables (needed for the two-flow model, `energy_flow`).

    Architectures recorded before `energy_flow` existed have no such key and describe the single flow."""
    offsets = bool(settings.get("axis_offset_conditions", False))  # recorded architectures before it: none
    if offsets and layers is None:
        raise ValueError("axis_offset_conditions needs the number of layers")
    conditions = 2 + (layers if offsets else 0)
    coupling = dict(
        blocks=int(settings["blocks"]),
        hidden_features=settings["hidden_features"],
        bins=int(settings["bins"]),
        spline_bound=float(settings["spline_bound"]),
        actnorm=bool(settings.get("actnorm", False)),  # model files written before the option have none
    )
    if not settings.get("energy_flow", False):
        return CaloINNFlow(features, context=conditions, **coupling)
    if layers is None or not 1 <= layers < features - 1:
        raise ValueError(
            f"the two-flow CaloINN needs the number of layer variables (1 .. {features - 2}); got {layers}"
        )
    shape_kind = settings.get("shape_flow", "joint")  # architectures recorded before the option: joint
    if shape_kind == "layerwise":
        if (features - layers) % layers:
            raise ValueError(f"{features - layers} cell features do not split into {layers} equal layers")
        shape_flow = LayerwiseShapeFlow(
            layers,
            (features - layers) // layers,
            context=conditions + layers,
            previous_layer=bool(settings.get("shape_flow_previous_layer", False)),
            per_layer_context=2 if offsets else None,
            **coupling,
        )
    elif shape_kind == "joint":
        shape_flow = CaloINNFlow(features - layers, context=conditions + layers, **coupling)
    else:
        raise ValueError(f"shape_flow must be one of {list(SHAPE_FLOWS)}; got {shape_kind!r}")
    return TwoFlowCaloINN(
        EnergyFlow(
            layers,
            context=2,
            transforms=int(settings["energy_flow_transforms"]),
            hidden_features=settings["energy_flow_hidden_features"],
            bins=int(settings["energy_flow_bins"]),
        ),
        shape_flow,
    )


def nats_per_feature(log_prob: Tensor, features: int) -> Tensor:
    """The training loss: mean negative log-likelihood divided by the number of features."""
    return -log_prob.mean() / features


__all__ = [
    "DEFAULT_SETTINGS",
    "CaloINNFlow",
    "CaloINNPreprocessing",
    "EnergyFlow",
    "LayerwiseShapeFlow",
    "TwoFlowCaloINN",
    "build_flow",
    "nats_per_feature",
    "resolve_settings",
]
