"""CaloINN's training showers: one preprocessed split file (rule calo_preprocess) as tensors in GeV, and the
depths the axis alignment needs from its geometry."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from twins.core.io import InputFileError, open_hdf5, read_datasets

log = logging.getLogger(__name__)

SHOWER_DATASETS = ("showers", "energy", "theta")


def load_split_showers(path: str | Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict, float]:
    """(cells (N, nx, ny, nz) GeV float64, energy (N,) GeV, theta (N,) rad, geometry, cell threshold GeV) of a
    preprocessed split file; showers without visible energy are dropped. InputFileError naming the file."""
    data = read_datasets(path, SHOWER_DATASETS)
    with open_hdf5(path) as f:
        if "geometry" not in f.attrs:
            raise InputFileError(f"{path}: missing attribute 'geometry'; rerun the calo_preprocess rule")
        geometry = json.loads(f.attrs["geometry"])
        transform = json.loads(f.attrs["transform"]) if "transform" in f.attrs else {}
    cells, energy, theta = (np.asarray(data[k], dtype=np.float64) for k in SHOWER_DATASETS)
    n = len(cells)
    if cells.ndim != 4 or energy.shape != (n,) or theta.shape != (n,):
        raise InputFileError(
            f"{path}: 'showers' must be (N, nx, ny, nz) and 'energy', 'theta' (N,); got "
            f"{cells.shape}, {energy.shape}, {theta.shape}"
        )
    expected = tuple(int(geometry[k]) for k in ("nx", "ny", "nz") if k in geometry)
    if len(expected) == 3 and expected != cells.shape[1:]:
        raise InputFileError(f"{path}: showers are {cells.shape[1:]} cells but the geometry attribute says {expected}")
    for name, values in zip(SHOWER_DATASETS, (cells, energy, theta)):
        if not np.isfinite(values).all():
            raise InputFileError(f"{path}: dataset '{name}' holds NaN or infinite values; rerun calo_preprocess")
    if (energy <= 0).any() or (cells < 0).any():
        raise InputFileError(f"{path}: incident energies must be positive and 'showers' non-negative")
    keep = cells.sum(axis=(1, 2, 3)) > 0
    if not keep.all():
        log.warning("%s: dropping %d showers with no visible energy", path, int((~keep).sum()))
    if keep.sum() < 2:
        raise InputFileError(f"{path}: fewer than two showers with visible energy; nothing to train on")
    threshold = float(transform.get("cell_threshold_gev", 0.0))
    as_t = torch.from_numpy
    return as_t(cells[keep]), as_t(energy[keep]), as_t(theta[keep]), geometry, threshold


def axis_cells_per_tan(geometry: dict, layers: int, path: str | Path) -> list[float]:
    """z_i / cell_size_x for every layer (z_i: depth of the layer's centre), from a split file's geometry
    attribute; InputFileError naming what is missing and the fix."""
    missing = [k for k in ("layer_thickness_mm", "cell_size_x_mm") if k not in geometry]
    if missing:
        raise InputFileError(
            f"{path}: the geometry attribute lacks {missing}, which calo.train.caloinn.align_to_axis needs; "
            "give the geometry those fields or set align_to_axis: false"
        )
    thickness, cell = float(geometry["layer_thickness_mm"]), float(geometry["cell_size_x_mm"])
    if thickness <= 0 or cell <= 0:
        raise InputFileError(f"{path}: geometry layer_thickness_mm and cell_size_x_mm must be positive")
    return [(i + 0.5) * thickness / cell for i in range(layers)]
