"""Small synthetic shower samples of the calorimeter tests (a uniquely named module: several test
folders have a conftest.py, so importing "conftest" would depend on collection order)."""

from pathlib import Path

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
    return ShowerSample(
        cells.astype(np.float32), energy, rng.uniform(0, 0.3, n), np.full(n, 11, dtype=np.int32)
    )


TOY_GEOMETRY = {
    "name": "toy", "nx": 4, "ny": 4, "nz": 6, "cell_size_x_mm": 10.0, "cell_size_y_mm": 10.0,
    "layer_thickness_mm": 8.9,
}
