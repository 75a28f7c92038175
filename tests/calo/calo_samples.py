"""Small synthetic shower samples of the calorimeter tests and the split files the generators read (a uniquely
named module: several test folders have a conftest.py, so importing "conftest" would depend on collection order).

Three toys, each shaped for what its tests check:
    toy_showers           a smooth gamma profile around the grid centre (ShowerSample); features, validation,
                          CaloINN's sampling temperature
    sparse_toy_showers    sparse gamma-distributed cells with empty layers, (3, 3, 5); CaloINN's preprocessing
                          (empty layers must invert to zero cells) and training
    angled_toy_showers    an energy-dependent longitudinal profile and an angle-shifted core, (8, 8, 10); the 3DGAN
"""

import json
from pathlib import Path

import h5py
import numpy as np

from twins.calo.showers import ShowerSample
from twins.calo.transform import ShowerTransform

REPO = Path(__file__).resolve().parents[2]


def toy_showers(n: int, shape=(4, 4, 6), seed: int = 0) -> ShowerSample:
    """Shower-like toy events: a gamma-shaped longitudinal profile around the grid centre, in GeV."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = shape
    energy = rng.uniform(10, 100, n)
    depth = np.arange(nz) + 0.5
    profile = depth**2 * np.exp(-depth / 1.5)
    profile /= profile.sum()
    lateral = np.exp(-0.5 * ((np.arange(nx) - (nx - 1) / 2)[:, None] ** 2 + (np.arange(ny) - (ny - 1) / 2)[None] ** 2))
    lateral /= lateral.sum()
    cells = energy[:, None, None, None] * lateral[None, :, :, None] * profile[None, None, None, :]
    cells *= rng.lognormal(0, 0.1, cells.shape)
    return ShowerSample(cells.astype(np.float32), energy, rng.uniform(0, 0.3, n), np.full(n, 11, dtype=np.int32))


TOY_GEOMETRY = {
    "name": "toy",
    "nx": 4,
    "ny": 4,
    "nz": 6,
    "cell_size_x_mm": 10.0,
    "cell_size_y_mm": 10.0,
    "layer_thickness_mm": 8.9,
}


def write_caloinn_split(path, cells: np.ndarray, energy: np.ndarray, theta: np.ndarray, threshold: float) -> None:
    """A preprocessed split as CaloINN reads it: showers (n, nx, ny, nz) in GeV, energy, theta, the geometry
    (grid from the cells; cell size and layer thickness, which the axis alignment needs) and the readout threshold."""
    nx, ny, nz = cells.shape[1:]
    with h5py.File(path, "w") as f:
        f["showers"], f["energy"], f["theta"] = cells, energy, theta
        f.attrs["geometry"] = json.dumps(
            {"nx": nx, "ny": ny, "nz": nz, "cell_size_x_mm": 10.0, "layer_thickness_mm": 20.0}
        )
        f.attrs["transform"] = json.dumps({"cell_threshold_gev": threshold})


SPARSE_GRID = (3, 3, 5)
SPARSE_THRESHOLD_GEV = 1.0e-4


def sparse_toy_showers(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cells (n, 3, 3, 5) GeV float32, energy (n,) GeV, theta (n,) rad): a longitudinal profile, sparse cells,
    the last layer empty in the first quarter of the showers and the first layer empty in shower 1."""
    energy = rng.uniform(10, 100, n)
    theta = rng.uniform(0, 0.35, n)
    profile = np.array([0.1, 0.35, 0.3, 0.15, 0.05])
    cells = rng.gamma(2.0, 1.0, (n, *SPARSE_GRID)) * profile * (energy * 0.9 / 18)[:, None, None, None]
    cells *= rng.random((n, *SPARSE_GRID)) < 0.7
    cells[: n // 4, :, :, -1] = 0.0  # empty last layer
    cells[1, :, :, 0] = 0.0  # empty first layer
    cells = cells * (cells >= SPARSE_THRESHOLD_GEV)
    return cells.astype(np.float32), energy, theta


ANGLED_GRID = (8, 8, 10)


def angled_toy_showers(n: int, seed: int, grid=ANGLED_GRID) -> dict[str, np.ndarray]:
    """Shower-like cells in GeV: gamma-distribution longitudinal profile peaking deeper at higher energy,
    Gaussian transverse spread widening with depth, shifted along x by the incidence angle.
    {"cells": (n, *grid) float32, "energy": (n,) GeV, "theta": (n,) rad}."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = grid
    energy = rng.uniform(10.0, 100.0, n)
    theta = rng.uniform(0.0, 0.3, n)
    depth = np.arange(nz) + 0.5
    t_max = 0.25 * nz * (1 + 0.2 * np.log(energy / 10.0)) * rng.normal(1.0, 0.05, n)
    b = 0.5
    a = b * t_max + 1.0
    profile = depth ** (a[:, None] - 1) * np.exp(-b * depth)
    profile = 0.95 * profile / profile.sum(axis=1, keepdims=True)
    cx = nx / 2 + np.tan(theta)[:, None] * depth / 2.5
    sigma = 0.6 + 0.05 * depth
    ix = np.arange(nx)[None, :, None] + 0.5
    iy = np.arange(ny)[None, :, None] + 0.5
    wx = np.exp(-0.5 * ((ix - cx[:, None, :]) / sigma) ** 2)
    wy = np.exp(-0.5 * ((iy - ny / 2) / sigma) ** 2) * np.ones((n, 1, 1))
    transverse = wx[:, :, None, :] * wy[:, None, :, :]
    transverse /= transverse.sum(axis=(1, 2), keepdims=True)
    cells = energy[:, None, None, None] * profile[:, None, None, :] * transverse
    cells = cells * rng.gamma(20.0, 1 / 20.0, cells.shape)  # cell-to-cell fluctuations
    return {"cells": cells.astype(np.float32), "energy": energy, "theta": theta}


def write_gan3d_split(path, n: int, seed: int, grid=ANGLED_GRID, transform: ShowerTransform | None = None):
    """A preprocessed split as the 3DGAN reads it, of `n` angled toy showers: x (model space), showers (GeV),
    conditions, energy, theta, pdg and the transform and geometry attributes. Returns `path`."""
    transform = transform or ShowerTransform()
    data = angled_toy_showers(n, seed, grid)
    cells = transform.apply_threshold(data["cells"])
    with h5py.File(path, "w") as f:
        f["x"] = transform.forward(cells, data["energy"]).astype(np.float32)
        f["showers"] = cells
        f["conditions"] = transform.encode_conditions(data["energy"], data["theta"])
        f["energy"] = data["energy"]
        f["theta"] = data["theta"]
        f["pdg"] = np.full(n, 11, np.int32)
        f.attrs["transform"] = json.dumps(transform.to_dict())
        f.attrs["geometry"] = json.dumps({"nx": grid[0], "ny": grid[1], "nz": grid[2]})
    return path
