"""Stand-ins of the calorimeter tests: a geometry object with only what the features need, and synthetic
showers with known shapes (a uniquely named module: import it as tests.calo.stand_ins)."""

import types

import numpy as np
from scipy.special import erf
from scipy.stats import gamma

from twins.calo.showers import ShowerSample


def stand_in_geometry(nx, ny, nz, pitch_x, pitch_y, thickness, x0, moliere_mm):
    """An object with the attributes of twins.calo.geometry.CaloGeometry that the features and figures read
    (mm; x0 = the material's radiation length)."""
    geo = types.SimpleNamespace(
        nx=nx,
        ny=ny,
        nz=nz,
        cell_size_x_mm=pitch_x,
        cell_size_y_mm=pitch_y,
        layer_thickness_mm=thickness,
        material=types.SimpleNamespace(radiation_length_mm=x0, moliere_radius_mm=moliere_mm),
    )
    geo.cell_centres_mm = lambda: (
        (np.arange(nx) - (nx - 1) / 2) * pitch_x,
        (np.arange(ny) - (ny - 1) / 2) * pitch_y,
        (np.arange(nz) + 0.5) * thickness,
    )
    return geo


def synthetic_showers(geo, n, seed, depth_shape=2.5, width_mm=5.0):
    """Gamma-function longitudinal profiles and Gaussian lateral spreads, with cell-level fluctuations."""
    rng = np.random.default_rng(seed)
    energy = rng.uniform(10.0, 50.0, n)
    t_edges = np.arange(geo.nz + 1) * geo.layer_thickness_mm / geo.material.radiation_length_mm
    shape = depth_shape * rng.normal(1.0, 0.1, n)
    longitudinal = np.diff(gamma.cdf(t_edges[None, :], shape[:, None]), axis=1)  # (n, nz)
    sigma = width_mm * rng.normal(1.0, 0.1, n)[:, None] * (1 + 0.1 * np.arange(geo.nz))  # (n, nz)
    x_edges = (np.arange(geo.nx + 1) - geo.nx / 2) * geo.cell_size_x_mm
    y_edges = (np.arange(geo.ny + 1) - geo.ny / 2) * geo.cell_size_y_mm
    x0 = rng.normal(0.0, 1.0, n)[:, None, None]
    fx = np.diff(erf((x_edges[None, :, None] - x0) / (np.sqrt(2) * sigma[:, None, :])), axis=1) / 2
    fy = np.diff(erf(y_edges[None, :, None] / (np.sqrt(2) * sigma[:, None, :])), axis=1) / 2
    cells = 0.9 * energy[:, None, None, None] * fx[:, :, None, :] * fy[:, None, :, :] * longitudinal[:, None, None, :]
    cells *= rng.gamma(20.0, 1 / 20.0, cells.shape)
    cells[cells < 1e-5] = 0.0
    return ShowerSample(cells.astype(np.float32), energy, np.zeros(n), np.full(n, 11, np.int32))
