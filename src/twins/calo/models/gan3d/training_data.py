"""The 3DGAN's training showers: one preprocessed split file (rule calo_preprocess) as tensors."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from twins.calo.transform import ShowerTransform
from twins.core.io import InputFileError, open_hdf5, read_datasets

log = logging.getLogger(__name__)

TRAIN_DATASETS = ("x", "conditions", "energy", "theta")


@dataclass
class TrainingShowers:
    """Showers of one preprocessed split, as tensors.

    x: (N, nx, ny, nz) model space; conditions: (N, 2) [E / E_scale, theta rad];
    energy_gev: (N,) incident energy; ecal_gev: (N,) visible energy through the inverse transform.
    """

    x: torch.Tensor
    conditions: torch.Tensor
    energy_gev: torch.Tensor
    ecal_gev: torch.Tensor
    transform: ShowerTransform
    geometry: dict[str, Any]

    def __len__(self) -> int:
        return len(self.x)

    @property
    def grid_shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])

    def batch(self, index: np.ndarray, device: torch.device) -> tuple[torch.Tensor, ...]:
        """(x, conditions, energy_gev, ecal_gev) of the showers `index`, on `device`."""
        i = torch.from_numpy(np.asarray(index, dtype=np.int64))
        return tuple(t[i].to(device) for t in (self.x, self.conditions, self.energy_gev, self.ecal_gev))


def _read_split(path: str | Path) -> tuple[dict[str, np.ndarray], ShowerTransform, dict[str, Any]]:
    """(datasets, transform, geometry) of a split file; InputFileError naming the file and what is wrong."""
    data = read_datasets(path, TRAIN_DATASETS)
    with open_hdf5(path) as f:
        missing = [a for a in ("transform", "geometry") if a not in f.attrs]
        if missing:
            raise InputFileError(f"{path}: missing attribute(s) {missing}; rerun the calo_preprocess rule")
        transform = ShowerTransform.from_settings(json.loads(f.attrs["transform"]))
        geometry = json.loads(f.attrs["geometry"])
    x = np.asarray(data["x"], dtype=np.float32)
    n = len(x)
    if x.ndim != 4:
        raise InputFileError(f"{path}: dataset 'x' must be (N, nx, ny, nz); got shape {x.shape}")
    if data["conditions"].shape != (n, 2) or len(data["energy"]) != n or len(data["theta"]) != n:
        raise InputFileError(
            f"{path}: 'conditions' must be ({n}, 2) and 'energy', 'theta' ({n},); got "
            f"{data['conditions'].shape}, {data['energy'].shape}, {data['theta'].shape}"
        )
    expected = tuple(int(geometry[k]) for k in ("nx", "ny", "nz") if k in geometry)
    if len(expected) == 3 and expected != x.shape[1:]:
        raise InputFileError(f"{path}: showers are {x.shape[1:]} cells but the geometry attribute says {expected}")
    for name in TRAIN_DATASETS:
        if not np.isfinite(data[name]).all():
            raise InputFileError(f"{path}: dataset '{name}' holds NaN or infinite values; rerun calo_preprocess")
    if (data["energy"] <= 0).any() or (x < 0).any():
        raise InputFileError(f"{path}: incident energies must be positive and 'x' non-negative")
    return {**data, "x": x}, transform, geometry


def load_training_showers(path: str | Path) -> TrainingShowers:
    """Read a preprocessed split file; showers without visible energy are dropped. InputFileError naming the
    file if it is not usable."""
    data, transform, geometry = _read_split(path)
    x = data["x"]
    ecal = transform.inverse(x, data["energy"]).sum(axis=(1, 2, 3), dtype=np.float64)
    keep = ecal > 0
    if not keep.all():
        log.warning("%s: dropping %d showers with no energy above threshold", path, int((~keep).sum()))
    if keep.sum() < 2:
        raise InputFileError(f"{path}: fewer than two showers with visible energy; nothing to train on")
    return TrainingShowers(
        x=torch.from_numpy(x[keep]),
        conditions=torch.from_numpy(np.asarray(data["conditions"], dtype=np.float32)[keep]),
        energy_gev=torch.from_numpy(np.asarray(data["energy"], dtype=np.float32)[keep]),
        ecal_gev=torch.from_numpy(ecal[keep].astype(np.float32)),
        transform=transform,
        geometry=geometry,
    )
