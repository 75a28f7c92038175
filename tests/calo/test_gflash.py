"""GFlash shower Monte Carlo (twins.calo.gflash, gflash_showers, simulators) checked against textbook (PDG) shower
physics, not against itself; and the W/Si sampling ECAL against its derivation.

PDG Review "Passage of particles through matter": the longitudinal maximum of an electromagnetic
shower lies at t_max = ln(E/E_c) + C_j X0 with C_j = -0.5 for electrons and +0.5 for photons; a
cylinder of one Moliere radius contains about 90 % of the energy. The energy resolution is the
configured a/sqrt(E) (+) c; a tilted shower develops along its axis.
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from twins.calo import gflash
from twins.calo.geometry import load_geometry
from twins.calo.gflash_showers import simulate_gflash
from twins.calo.simulators import simulate_showers

REPO = Path(__file__).resolve().parents[2]
PBWO4 = load_geometry(REPO / "resources" / "calo" / "geometry_pbwo4.yaml")
SAMPLING = load_geometry(REPO / "resources" / "calo" / "geometry_pb_lar_sampling.yaml")
X0 = PBWO4.material.radiation_length_mm

SETTINGS = {
    "backend": "gflash",
    "events": 100,
    "chunks": 1,
    "particle": "e-",
    "energy_gev": {"spectrum": "uniform", "min": 10, "max": 100},
    "incidence_angle_deg": {"min": 0, "max": 20},
}


def _box(geometry, depth_x0=50.0):
    """One huge cell: everything but far longitudinal leakage is contained."""
    return replace(
        geometry,
        nx=1,
        ny=1,
        nz=1,
        cell_size_x_mm=1e4,
        cell_size_y_mm=1e4,
        layer_thickness_mm=depth_x0 * geometry.material.radiation_length_mm,
    )


def _showers(geometry, n, energy, pdg=11, theta_deg=0.0, seed=0):
    return simulate_gflash(
        geometry,
        np.full(n, float(energy)),
        np.full(n, np.deg2rad(theta_deg)),
        np.full(n, pdg, dtype=np.int32),
        np.random.default_rng(seed),
    )


def _peak_depth(profile, t):
    """Depth of the maximum of a gamma function t^(a-1) exp(-b t) fitted to the profile's top half."""
    top = profile > 0.5 * profile.max()
    design = np.stack([np.ones(top.sum()), np.log(t[top]), t[top]], axis=1)
    _, a_minus_1, minus_b = np.linalg.lstsq(design, np.log(profile[top]), rcond=None)[0]
    return a_minus_1 / -minus_b


# --- shower physics ---------------------------------------------------------------------------


@pytest.mark.parametrize("particle, pdg, c_j", [("e-", 11, -0.5), ("gamma", 22, +0.5)])
def test_shower_maximum_follows_pdg_formula(particle, pdg, c_j):
    """Mean longitudinal profile in a deep grid of 0.25 X0 layers peaks within 0.5 X0 of
    ln(E/E_c) + C_j at 10 and 100 GeV."""
    deep = replace(PBWO4, nx=1, ny=1, nz=140, cell_size_x_mm=1e4, cell_size_y_mm=1e4, layer_thickness_mm=X0 / 4)
    t = deep.cell_centres_mm()[2] / X0
    for energy in (10.0, 100.0):
        profile = _showers(deep, 300, energy, pdg=pdg, seed=int(energy)).mean(axis=0)[0, 0]
        t_max = _peak_depth(profile, t)
        t_pdg = np.log(energy * 1e3 / PBWO4.material.critical_energy_mev) + c_j
        assert abs(t_max - t_pdg) < 0.5, (particle, energy, t_max, t_pdg)


def test_moliere_radius_contains_about_90_percent():
    wide = replace(PBWO4, nx=81, ny=81, nz=1, cell_size_x_mm=2.0, cell_size_y_mm=2.0, layer_thickness_mm=40 * X0)
    mean = _showers(wide, 200, 50.0, seed=1).mean(axis=0)[:, :, 0]
    x, y, _ = wide.cell_centres_mm()
    r = np.hypot(x[:, None], y[None, :])
    inside_rm = mean[r < PBWO4.material.moliere_radius_mm].sum() / mean.sum()
    inside_2rm = mean[r < 2 * PBWO4.material.moliere_radius_mm].sum() / mean.sum()
    assert 0.85 < inside_rm < 0.95
    assert 0.93 < inside_2rm < 0.99  # PDG: about 95 % within 2 R_M
    assert mean.sum() / 50.0 > 0.97  # a 16 cm x 16 cm x 40 X0 block contains nearly everything


@pytest.mark.parametrize("geometry", [PBWO4, SAMPLING], ids=["homogeneous", "sampling"])
def test_response_and_resolution(geometry):
    """Contained showers: mean visible / E = sampling fraction, spread = a/sqrt(E) (+) c."""
    box = _box(geometry)
    for energy, n in ((10.0, 400), (100.0, 300)):
        total = _showers(box, n, energy, seed=7 + int(energy)).sum(axis=(1, 2, 3), dtype=np.float64)
        expected = np.sqrt(geometry.stochastic_term**2 / energy + geometry.constant_term**2)
        assert total.mean() / energy == pytest.approx(geometry.sampling_fraction, rel=0.01)
        assert total.std(ddof=1) / total.mean() == pytest.approx(expected, rel=0.15)


@pytest.mark.parametrize("geometry", [PBWO4, SAMPLING], ids=["homogeneous", "sampling"])
def test_default_grids_lose_only_leakage(geometry):
    total = _showers(geometry, 100, 30.0, seed=3).sum(axis=(1, 2, 3), dtype=np.float64)
    fraction = total.mean() / 30.0 / geometry.sampling_fraction
    assert 0.9 < fraction < 1.0


def test_photons_start_deeper_than_electrons():
    """A photon converts after 9/7 X0 on average: its first layer sees far less energy."""
    electrons = _showers(PBWO4, 200, 20.0, pdg=11, seed=4).sum(axis=(1, 2))[:, 0].mean()
    photons = _showers(PBWO4, 200, 20.0, pdg=22, seed=4).sum(axis=(1, 2))[:, 0].mean()
    assert photons < 0.6 * electrons


def test_tilted_shower_follows_its_axis():
    """Energy-weighted x centroid of layer k sits at z_k tan(theta); untilted showers stay at x = 0.

    Not exactly: a layer collects energy from axis depths z/cos(theta) +- (lateral offset) tan(theta),
    so where the profile rises (falls) the centroid leads (trails) the axis by a few mm; hence the
    5 % + 1.5 mm band and the 10 % slope tolerance.
    """
    grid = replace(PBWO4, nx=60, cell_size_x_mm=5.0)
    x, _, z = grid.cell_centres_mm()
    layers = slice(4, 16)  # past the first X0s, before the sparse tail
    for theta_deg in (0.0, 20.0):
        profile = _showers(grid, 150, 50.0, theta_deg=theta_deg, seed=5).sum(axis=(0, 2))  # (nx, nz)
        centroid = (profile * x[:, None]).sum(0) / profile.sum(0)
        expected = z * np.tan(np.deg2rad(theta_deg))
        assert np.all(np.abs(centroid[layers] - expected[layers]) < 0.05 * expected[layers] + 1.5)
    slope = np.polyfit(z[layers], centroid[layers], 1)[0]
    assert slope == pytest.approx(np.tan(np.deg2rad(20.0)), rel=0.10)


def test_fluctuations_of_longitudinal_parameters_match_the_paper():
    """ln T and ln alpha are Gaussian with the published widths and correlation (hep-ex/0001020)."""
    energy = np.full(20000, 50.0)
    tmax, alpha = gflash.sample_longitudinal_profiles(energy, PBWO4.material, np.random.default_rng(2))
    ln_y = np.log(50e3 / PBWO4.material.critical_energy_mev)
    assert np.log(tmax).mean() == pytest.approx(np.log(ln_y - 0.812), abs=0.01)
    assert np.log(tmax).std() == pytest.approx(1 / (-1.4 + 1.26 * ln_y), rel=0.03)
    assert np.log(alpha).std() == pytest.approx(1 / (-0.58 + 0.86 * ln_y), rel=0.03)
    assert np.corrcoef(np.log(tmax), np.log(alpha))[0, 1] == pytest.approx(0.705 - 0.023 * ln_y, abs=0.02)


def test_energy_below_parameterisation_range_is_refused():
    with pytest.raises(ValueError, match="energy_gev"):
        _showers(PBWO4, 2, 0.1)


# --- API, determinism ------------------------------------------------------------------


def test_simulate_showers_sample_layout():
    sample = simulate_showers(PBWO4, SETTINGS, 30, np.random.default_rng(0))
    assert sample.cells.shape == (30, 12, 12, 25) and sample.cells.dtype == np.float32
    assert sample.energy.dtype == np.float64 and sample.theta.dtype == np.float64
    assert sample.pdg.dtype == np.int32 and set(sample.pdg) == {11}
    assert np.all(sample.cells >= 0)
    assert np.all((sample.energy >= 10) & (sample.energy <= 100))
    assert np.all((sample.theta >= 0) & (sample.theta <= np.deg2rad(20)))


def test_same_seed_same_showers_different_seed_different():
    a = simulate_showers(PBWO4, SETTINGS, 20, np.random.default_rng(11))
    b = simulate_showers(PBWO4, SETTINGS, 20, np.random.default_rng(11))
    c = simulate_showers(PBWO4, SETTINGS, 20, np.random.default_rng(12))
    for name in ("cells", "energy", "theta", "pdg"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.cells, c.cells)
    assert not np.array_equal(a.energy, c.energy)


def test_batching_does_not_change_the_physics():
    """Small spot batches give the same mean response as one big batch (same primaries)."""
    energy, theta = np.full(60, 20.0), np.zeros(60)
    pdg = np.full(60, 11, dtype=np.int32)
    small = simulate_gflash(PBWO4, energy, theta, pdg, np.random.default_rng(1), max_spots_per_batch=5000)
    big = simulate_gflash(PBWO4, energy, theta, pdg, np.random.default_rng(1))
    assert small.sum() / big.sum() == pytest.approx(1.0, abs=0.01)


# --- the W/Si sampling ECAL (resources/calo/geometry_w_si_sampling.yaml) against its derivation ----------------
# The expected sampling fraction and stochastic term are recomputed here from the layer stack and the PDG minimum
# dE/dx (not read back from the YAML), then the GFlash simulator is checked to reproduce them: visible / incident
# energy = sampling fraction (up to leakage), and the spread of the visible energy = a/sqrt(E) (+) c with a from
# the Fabjan-Gianotti sampling-fluctuation estimate sigma/E = 2.7 % sqrt(d[mm] / f_samp) / sqrt(E[GeV])
# (Rev. Mod. Phys. 75 (2003) 1243).

W_SI = load_geometry(REPO / "resources" / "calo" / "geometry_w_si_sampling.yaml")

# Layer stack (mm) and PDG minimum dE/dx (MeV cm^2/g) times density (g/cm^3).
W_MM, SI_MM = 3.5, 0.5
DEDX_W = 1.145 * 19.30  # MeV/cm
DEDX_SI = 1.664 * 2.329
F_SAMP = SI_MM * DEDX_SI / (W_MM * DEDX_W + SI_MM * DEDX_SI)
STOCHASTIC = 0.027 * np.sqrt(SI_MM / F_SAMP)


def _w_si_settings(energy):
    return {
        "backend": "gflash",
        "particle": "e-",
        "energy_gev": {"spectrum": "list", "values": [energy]},
        "incidence_angle_deg": {"min": 0, "max": 0},
    }


def _visible(geometry, energy, n, seed):
    sample = simulate_showers(geometry, _w_si_settings(energy), n, np.random.default_rng(seed))
    return sample.cells.sum(axis=(1, 2, 3), dtype=np.float64)


def test_w_si_yaml_matches_the_derivation():
    assert F_SAMP == pytest.approx(0.02444, rel=1e-3)  # guards the constants above against typos
    assert W_SI.sampling_fraction == pytest.approx(F_SAMP, rel=2e-3)
    assert W_SI.stochastic_term == pytest.approx(STOCHASTIC, rel=2e-3)
    assert W_SI.layer_thickness_mm == W_MM + SI_MM
    assert W_SI.nz == 25 and W_SI.cell_size_x_mm == 5.1
    # one sampling period of the effective medium is about one X0; 25 layers contain an EM shower
    assert 24 < W_SI.nz * W_SI.layer_thickness_mm / W_SI.material.radiation_length_mm < 26


def test_w_si_contained_response_and_resolution_follow_the_formula():
    """A wide, deep variant (one huge cell, 50 X0 deep) contains the shower: mean visible / E =
    f_samp to 1 %, sigma/E = a/sqrt(E) (+) c to 15 % (statistical error of the spread about 4 %)."""
    wide = replace(
        W_SI,
        nx=1,
        ny=1,
        nz=1,
        cell_size_x_mm=1e4,
        cell_size_y_mm=1e4,
        layer_thickness_mm=50 * W_SI.material.radiation_length_mm,
    )
    for energy, n, seed in ((10.0, 400, 1), (100.0, 300, 2)):
        total = _visible(wide, energy, n, seed)
        expected = np.sqrt(STOCHASTIC**2 / energy + W_SI.constant_term**2)
        assert total.mean() / energy == pytest.approx(F_SAMP, rel=0.01), energy
        assert total.std(ddof=1) / total.mean() == pytest.approx(expected, rel=0.15), energy


def test_w_si_default_grid_loses_only_leakage():
    """The 25 x 25 x 25 grid (12.8 cm wide, 25 X0 deep) keeps most of a 50 GeV shower."""
    fraction = _visible(W_SI, 50.0, 100, 3).mean() / 50.0 / F_SAMP
    assert 0.93 < fraction < 1.0
