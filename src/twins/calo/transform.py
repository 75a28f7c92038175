"""The invertible map between showers in GeV and the space the generators learn in.

After DetectorSim-3DGAN: cell energies are raised to a power below one (default 0.85) to compress
the dynamic range, optionally after dividing by the incident energy (CaloChallenge-style E/E_inc).
The inverse brings generated showers back to GeV. Works on numpy arrays and torch tensors alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from twins.core.config import defaults, resolve

_KEY = "calo.preprocess"
# The schema's calo.preprocess defaults: a transform built without a value takes the workflow's.
_DEFAULTS = defaults(_KEY)


@dataclass(frozen=True)
class ShowerTransform:
    """cell_threshold_gev: cells below are zeroed (the readout threshold); power: the exponent of the cells;
    cell_scale: multiplies cells (GeV, or E/E_inc) before the power; normalise_by_incident: divide the cells
    by the incident energy first; energy_scale_gev: conditions carry E / energy_scale_gev. Ranges as the
    calo.preprocess schema (ConfigError, a ValueError, names the key)."""

    cell_threshold_gev: float = _DEFAULTS["cell_threshold_gev"]
    power: float = _DEFAULTS["power"]
    cell_scale: float = _DEFAULTS["cell_scale"]
    normalise_by_incident: bool = _DEFAULTS["normalise_by_incident"]
    energy_scale_gev: float = _DEFAULTS["energy_scale_gev"]

    def __post_init__(self) -> None:
        resolve(_KEY, asdict(self))  # the schema's range checks

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> ShowerTransform:
        """The transform of a calo.preprocess slice (its `split` ignored) or of a saved `to_dict()` record; keys
        left out take the schema's defaults, unknown keys raise."""
        resolved = resolve(_KEY, settings)
        resolved.pop("split")
        return cls(**resolved)

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

    def training_arrays(self, cells, energy, theta, pdg) -> dict[str, np.ndarray]:
        """What a training split holds for N showers (cells (N, nx, ny, nz) GeV, energy (N,) GeV, theta (N,)
        rad, pdg (N,)): `showers` after the readout threshold, `x` float32 in model space, `conditions`
        (N, 2) float32, and energy, theta, pdg as given."""
        showers = self.apply_threshold(cells)
        x = self.forward(showers, energy).astype(np.float32)
        conditions = self.encode_conditions(energy, theta)
        return {"showers": showers, "x": x, "conditions": conditions, "energy": energy, "theta": theta, "pdg": pdg}
