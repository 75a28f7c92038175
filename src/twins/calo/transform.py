"""The invertible map between showers in GeV and the space the generators learn in.

After DetectorSim-3DGAN: cell energies are raised to a power below one (default 0.85) to compress
the dynamic range, optionally after dividing by the incident energy (CaloChallenge-style E/E_inc).
The inverse brings generated showers back to GeV. Works on numpy arrays and torch tensors alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

ALLOWED_KEYS = {"cell_threshold_gev", "power", "cell_scale", "normalise_by_incident", "energy_scale_gev"}


@dataclass(frozen=True)
class ShowerTransform:
    cell_threshold_gev: float = 1.0e-4  # cells below are zeroed: the readout threshold
    power: float = 0.85
    cell_scale: float = 1.0  # multiplies cells (GeV, or E/E_inc) before the power
    normalise_by_incident: bool = False
    energy_scale_gev: float = 100.0  # conditions carry E / energy_scale_gev

    def __post_init__(self) -> None:
        if not 0 < self.power <= 1:
            raise ValueError(f"calo.preprocess.power must be in (0, 1]; got {self.power}")
        if self.cell_scale <= 0 or self.energy_scale_gev <= 0:
            raise ValueError("calo.preprocess.cell_scale and energy_scale_gev must be positive")
        if self.cell_threshold_gev < 0:
            raise ValueError(f"calo.preprocess.cell_threshold_gev must be >= 0; got {self.cell_threshold_gev}")

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> ShowerTransform:
        unknown = set(settings) - ALLOWED_KEYS
        if unknown:
            raise ValueError(f"unknown calo.preprocess key(s) {sorted(unknown)}; allowed: {sorted(ALLOWED_KEYS)}")
        return cls(**settings)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _per_shower(self, energy, ndim: int):
        """Incident energy shaped to broadcast against (N, nx, ny, nz) cells."""
        return energy.reshape((-1,) + (1,) * (ndim - 1))

    def apply_threshold(self, cells):
        return cells * (cells >= self.cell_threshold_gev)

    def forward(self, cells, energy):
        """cells (N, nx, ny, nz) in GeV, energy (N,) GeV -> model space, same shape."""
        cells = self.apply_threshold(cells)
        if self.normalise_by_incident:
            cells = cells / self._per_shower(energy, cells.ndim)
        return (cells * self.cell_scale) ** self.power

    def inverse(self, x, energy):
        """Model space -> cells in GeV; negative outputs are clipped and the threshold reapplied."""
        x = x.clip(min=0)  # numpy arrays and torch tensors both have .clip(min=)
        cells = x ** (1.0 / self.power) / self.cell_scale
        if self.normalise_by_incident:
            cells = cells * self._per_shower(energy, cells.ndim)
        return self.apply_threshold(cells)

    def encode_conditions(self, energy, theta) -> np.ndarray:
        """(N, 2) float32: [E / energy_scale_gev, theta in rad], the generator's conditioning input."""
        return np.stack([np.asarray(energy) / self.energy_scale_gev, np.asarray(theta)], axis=1).astype(np.float32)
