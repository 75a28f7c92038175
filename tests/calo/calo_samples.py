"""Small synthetic shower samples of the calorimeter tests (a uniquely named module: several test
folders have a conftest.py, so importing "conftest" would depend on collection order)."""

import json
from pathlib import Path

import h5py
import numpy as np

from twins.calo.showers import ShowerSample

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
