"""Track segments crossing one pad row, taken from helices in a solenoid field.

Tracks start at a smeared primary vertex with log-uniform transverse momentum, uniform pseudorapidity
and azimuth, and charge +-1; each is cut at one pad row drawn at random (a straight line in its
sector's frame, at distance `row_distances_cm[row]` from the beam axis). The segment's features are
therefore correlated as in real events: low-pT tracks cross outer rows at large angles, or not at all.

Feature conventions (all (N,) arrays):
    crossing_angle  rad, track direction in the transverse plane relative to the row's normal; positive
                    when the pad coordinate grows outwards
    dip_angle       rad, angle to the transverse plane, positive when the track moves towards the readout
                    plane it drifts to (so the drift length shrinks along the track)
    drift_length    cm, from the crossing point to the readout plane
    pad_coordinate  pads, crossing point along the row in the sector frame divided by the pad pitch
    pt              GeV, transverse momentum
    pad_row         row number 0..n_rows-1 (int)
    beta_gamma      p / m of the particle (sets the ionisation density)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twins.core.config import resolve
from twins.tpc.detector import PadRowDetector

FEATURES = ("crossing_angle", "dip_angle", "drift_length", "pad_coordinate", "pt", "pad_row")
PARTICLE_MASS_GEV = {"pion": 0.13957, "kaon": 0.49368, "proton": 0.93827}
# bending radius [cm] = pT [GeV] / (c [m/ns... ] * B [T]) * 100: 0.299792458 GeV per T·m
GEV_PER_TESLA_METRE = 0.299792458


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def chunk_segments(total: int, chunks: int, chunk: int) -> int:
    """Segments of one simulation chunk: `total` over `chunks` jobs, the first ones taking the remainder."""
    if not 0 <= chunk < chunks:
        raise ValueError(f"chunk {chunk} outside 0..{chunks - 1} (tpc.simulate.chunks = {chunks})")
    return total // chunks + (1 if chunk < total % chunks else 0)


def sample_tracks(n: int, settings: dict[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """n primary tracks: pt (GeV), dip (rad), phi0 (rad), charge (+-1), vertex vx, vy, vz (cm)."""
    pt_lo, pt_hi = settings["pt_gev"]["min"], settings["pt_gev"]["max"]
    if not pt_lo <= pt_hi:  # the schema checks each bound; their order is a cross-field check
        raise ValueError(f"tpc.simulate.pt_gev needs min <= max; got {settings['pt_gev']}")
    eta = rng.uniform(-settings["eta_max"], settings["eta_max"], n)
    vertex = settings["vertex"]
    return {
        "pt": np.exp(rng.uniform(np.log(pt_lo), np.log(pt_hi), n)),
        "dip": np.arctan(np.sinh(eta)),
        "phi0": rng.uniform(-np.pi, np.pi, n),
        "charge": rng.choice([-1.0, 1.0], n),
        "vx": rng.normal(0.0, vertex["sigma_xy_cm"], n),
        "vy": rng.normal(0.0, vertex["sigma_xy_cm"], n),
        "vz": rng.normal(0.0, vertex["sigma_z_cm"], n),
    }


def cross_rows(
    tracks: dict[str, np.ndarray],
    rows: np.ndarray,
    detector: PadRowDetector,
    max_crossing_angle_rad: float,
    mass_gev: float,
) -> dict[str, np.ndarray]:
    """Features of each track's first crossing of pad row `rows[i]`; rows it never reaches come out as NaN
    in `drift_length` (also when the crossing leaves the drift volume, the sector's usable width or the
    angle limit)."""
    distance = detector.row_distances_cm[rows]
    radius = tracks["pt"] / (GEV_PER_TESLA_METRE * detector.magnetic_field_t) * 100.0
    turn = -tracks["charge"]  # positive charges turn clockwise in a field along +z
    psi0 = tracks["phi0"] - turn * np.pi / 2  # angle of the vertex seen from the circle's centre
    cx = tracks["vx"] - radius * np.cos(psi0)
    cy = tracks["vy"] - radius * np.sin(psi0)
    with np.errstate(invalid="ignore"):
        # sector: from where the circle (through ~ the origin) reaches the row's distance
        azimuth = tracks["phi0"] + turn * np.arcsin(distance / (2 * radius))
        sector_width = 2 * np.pi / detector.sectors
        phi_s = np.round(azimuth / sector_width) * sector_width
        # the circle meets the row line n.p = distance where cos(psi0 + turn*t - phi_s) = u
        u = (distance - (np.cos(phi_s) * cx + np.sin(phi_s) * cy)) / radius
        half = np.arccos(u)
        candidates = np.stack([turn * (phi_s + half - psi0), turn * (phi_s - half - psi0)]) % (2 * np.pi)
    t = np.min(candidates, axis=0)  # first crossing along the track
    angle = psi0 + turn * t
    px = cx + radius * np.cos(angle)
    py = cy + radius * np.sin(angle)
    x_local = -np.sin(phi_s) * px + np.cos(phi_s) * py
    crossing = _wrap(angle + turn * np.pi / 2 - phi_s)
    z = tracks["vz"] + radius * t * np.tan(tracks["dip"])
    drift = detector.max_drift_cm - np.abs(z)
    pads, _ = detector.window_shape
    usable = distance * np.tan(sector_width / 2) - pads * detector.pad_pitch_cm
    ok = (np.abs(u) <= 1) & (drift > 0) & (np.abs(x_local) < usable) & (np.abs(crossing) < max_crossing_angle_rad)
    ok &= np.isfinite(azimuth)
    momentum = tracks["pt"] / np.cos(tracks["dip"])
    return {
        "crossing_angle": crossing,
        "dip_angle": np.where(z >= 0, 1.0, -1.0) * tracks["dip"],
        "drift_length": np.where(ok, drift, np.nan),
        "pad_coordinate": x_local / detector.pad_pitch_cm,
        "pt": tracks["pt"],
        "pad_row": rows.astype(np.int32),
        "beta_gamma": momentum / mass_gev,
    }


def sample_segments(
    n: int, detector: PadRowDetector, settings: dict[str, Any], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """n segments that cross their row inside the drift volume (rejection sampling over tracks and rows).

    settings: the `tpc.simulate` slice (schema defaults filled in and checked here, ConfigError naming the key)."""
    settings = resolve("tpc.simulate", settings)
    mass = PARTICLE_MASS_GEV[settings["particle"]]
    max_angle = np.radians(settings["max_crossing_angle_deg"])
    parts: list[dict[str, np.ndarray]] = []
    have = 0
    for _ in range(1000):
        batch = max(2 * (n - have), 64)
        tracks = sample_tracks(batch, settings, rng)
        rows = rng.integers(0, detector.n_rows, batch)
        segments = cross_rows(tracks, rows, detector, max_angle, mass)
        keep = np.isfinite(segments["drift_length"])
        parts.append({k: v[keep] for k, v in segments.items()})
        have += int(keep.sum())
        if have >= n:
            break
    else:
        raise ValueError("almost no track reaches a pad row: check tpc.simulate.pt_gev and the detector")
    return {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}
