"""GFlash showers in the voxelised calorimeter: the spots of twins.calo.gflash placed and histogrammed into cells.

Each shower enters at the centre of the front face along (sin theta, 0, cos theta). Photons first travel an
exponential depth with mean 9/7 X0. Each shower draws its own (T, alpha) of the longitudinal gamma profile,
then N_spot spots: depths from the spot profile, each weighted by the ratio of the energy profile to the spot
profile (so the energy follows the energy profile exactly in expectation, and the spots sum to E), radii from
the core + tail profile at the spot's depth, azimuth uniform. Spots are placed along the tilted axis with their
radial offset perpendicular to it and histogrammed into the cells; energy outside the grid is lost (leakage).
The stochastic term is applied spot by spot (sum fluctuates as a/sqrt(E)), the constant term as a per-shower
scale, and the visible energy is the deposit times the sampling fraction.
"""

from __future__ import annotations

import numpy as np

from twins.calo import gflash
from twins.calo.geometry import CaloGeometry

# Spots processed per vectorised batch: bounds the memory (about 100 bytes per spot).
MAX_SPOTS_PER_BATCH = 500_000


def simulate_gflash(
    geometry: CaloGeometry,
    energy_gev: np.ndarray,
    theta_rad: np.ndarray,
    pdg: np.ndarray,
    rng: np.random.Generator,
    max_spots_per_batch: int = MAX_SPOTS_PER_BATCH,
) -> np.ndarray:
    """GFlash showers for given primaries (N,); returns visible energy per cell, float32 (N, nx, ny, nz) GeV."""
    energy = np.asarray(energy_gev, dtype=np.float64)
    theta = np.asarray(theta_rad, dtype=np.float64)
    n = len(energy)
    cells = np.zeros((n, *geometry.shape), dtype=np.float32)
    if n == 0:
        return cells
    material = geometry.material
    sampling = geometry.sampling_fraction < 1.0

    # Per-shower quantities, drawn once for all showers in a fixed order (determinism).
    tmax, alpha = gflash.sample_longitudinal_profiles(energy, material, rng)
    mean_log_alpha = gflash.longitudinal_parameters(energy, material)[2]
    tmax_spot, alpha_spot = gflash.spot_profiles(tmax, alpha, material, sampling=sampling)
    n_spots = gflash.spot_count(energy, material, geometry.stochastic_term if sampling else None)
    start = np.zeros(n)
    photon = np.asarray(pdg) == 22
    start[photon] = gflash.photon_conversion_depth(int(photon.sum()), rng)
    scale = np.maximum(1.0 + geometry.constant_term * rng.standard_normal(n), 0.0) * geometry.sampling_fraction

    shower = _ShowerArrays(energy, theta, tmax, alpha, mean_log_alpha, tmax_spot, alpha_spot, start, scale)
    for lo, hi in _batches(n_spots, max_spots_per_batch):
        cells[lo:hi] = _deposit_batch(geometry, shower, lo, hi, n_spots[lo:hi], rng)
    return cells


class _ShowerArrays:
    """Per-shower arrays (N,) that a batch slices."""

    def __init__(self, energy, theta, tmax, alpha, mean_log_alpha, tmax_spot, alpha_spot, start, scale):
        self.energy, self.theta = energy, theta
        self.tmax, self.alpha, self.mean_log_alpha = tmax, alpha, mean_log_alpha
        self.tmax_spot, self.alpha_spot = tmax_spot, alpha_spot
        self.start, self.scale = start, scale


def _batches(n_spots: np.ndarray, max_spots: int):
    """Consecutive (lo, hi) event ranges holding at most max_spots spots (at least one event each)."""
    lo, n = 0, len(n_spots)
    cum = np.cumsum(n_spots)
    while lo < n:
        base = cum[lo - 1] if lo else 0
        hi = int(np.searchsorted(cum, base + max_spots, side="right"))
        hi = max(hi, lo + 1)
        yield lo, hi
        lo = hi


def _deposit_batch(
    geometry: CaloGeometry, s: _ShowerArrays, lo: int, hi: int, n_spots: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Generate the spots of showers lo..hi-1 and histogram them; returns float32 (hi-lo, nx, ny, nz).

    Depths and energy weights are float64; radii, angles and positions float32 (0.1 um precision
    over a metre), which halves the memory traffic of this, the hot loop.
    """
    material = geometry.material
    b = hi - lo
    sl = slice(lo, hi)
    offsets = np.concatenate(([0], np.cumsum(n_spots)[:-1]))

    def per_spot(a: np.ndarray, dtype=np.float64) -> np.ndarray:
        return np.repeat(np.asarray(a, dtype=dtype), n_spots)

    # Longitudinal: spot depths (X0 from the shower start) from the spot profile; energy weights =
    # energy profile / spot profile, normalised per shower so the spots of a shower sum to E.
    alpha, beta = s.alpha[sl], (s.alpha[sl] - 1.0) / s.tmax[sl]
    alpha_spot, beta_spot = s.alpha_spot[sl], (s.alpha_spot[sl] - 1.0) / s.tmax_spot[sl]
    t = rng.standard_gamma(per_spot(alpha_spot))
    t *= per_spot(1.0 / beta_spot)
    np.maximum(t, 1e-12, out=t)
    log_w = per_spot(alpha - alpha_spot) * np.log(t)
    log_w -= per_spot(beta - beta_spot) * t
    log_w -= per_spot(np.maximum.reduceat(log_w, offsets))
    w = np.exp(log_w, out=log_w)
    w *= per_spot(s.energy[sl] / np.add.reduceat(w, offsets))
    spot_energy = w

    # Radial: core/tail profile at the spot's tau, azimuth uniform.
    tau_per_t = gflash.shower_tau(1.0, s.tmax[sl], alpha, s.mean_log_alpha[sl])
    tau = (t * per_spot(tau_per_t)).astype(np.float32)
    r_core, r_tail, p_core = gflash.radial_parameters(per_spot(s.energy[sl], np.float32), tau, material.z_eff)
    r = gflash.sample_radius(r_core, r_tail, p_core, rng)
    r *= np.float32(material.moliere_radius_mm)
    phi = rng.random(len(t), dtype=np.float32)
    phi *= np.float32(2.0 * np.pi)

    # Place along the tilted axis (sin th, 0, cos th); transverse basis e1 = (cos th, 0, -sin th), e2 = y.
    depth_mm = ((t + per_spot(s.start[sl])) * material.radiation_length_mm).astype(np.float32)
    sin_t, cos_t = per_spot(np.sin(s.theta[sl]), np.float32), per_spot(np.cos(s.theta[sl]), np.float32)
    u = r * np.cos(phi)
    y = r * np.sin(phi)
    x = depth_mm * sin_t + u * cos_t
    z = depth_mm * cos_t - u * sin_t

    # Resolution: stochastic term spot by spot, constant term and sampling fraction per shower.
    spot_energy = gflash.sampling_fluctuation(spot_energy, geometry.stochastic_term, rng)
    spot_energy *= per_spot(s.scale[sl])

    nx, ny, nz = geometry.shape
    ix = np.floor(x * np.float32(1.0 / geometry.cell_size_x_mm) + np.float32(0.5 * nx))
    iy = np.floor(y * np.float32(1.0 / geometry.cell_size_y_mm) + np.float32(0.5 * ny))
    iz = np.floor(z * np.float32(1.0 / geometry.layer_thickness_mm))
    inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny) & (iz >= 0) & (iz < nz)
    ev = np.repeat(np.arange(b, dtype=np.int64), n_spots)[inside]
    flat = ((ev * nx + ix[inside].astype(np.int64)) * ny + iy[inside].astype(np.int64)) * nz + iz[inside].astype(
        np.int64
    )
    hist = np.bincount(flat, weights=spot_energy[inside], minlength=b * nx * ny * nz)
    return hist.reshape(b, nx, ny, nz).astype(np.float32)
