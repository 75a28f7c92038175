"""The W/Si sampling ECAL (resources/calo/geometry_w_si_sampling.yaml) against its derivation.

The expected sampling fraction and stochastic term are recomputed here from the layer stack and the
PDG minimum dE/dx (not read back from the YAML), then the GFlash simulator is checked to reproduce
them: visible / incident energy = sampling fraction (up to leakage), and the spread of the visible
energy = a/sqrt(E) (+) c with a from the Fabjan-Gianotti sampling-fluctuation estimate
sigma/E = 2.7 % sqrt(d[mm] / f_samp) / sqrt(E[GeV]) (Rev. Mod. Phys. 75 (2003) 1243).
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from twins.calo.geometry import load_geometry
from twins.calo.simulate import simulate_showers

REPO = Path(__file__).resolve().parents[2]
W_SI = load_geometry(REPO / "resources" / "calo" / "geometry_w_si_sampling.yaml")

# Layer stack (mm) and PDG minimum dE/dx (MeV cm^2/g) times density (g/cm^3).
W_MM, SI_MM = 3.5, 0.5
DEDX_W = 1.145 * 19.30  # MeV/cm
DEDX_SI = 1.664 * 2.329
F_SAMP = SI_MM * DEDX_SI / (W_MM * DEDX_W + SI_MM * DEDX_SI)
STOCHASTIC = 0.027 * np.sqrt(SI_MM / F_SAMP)


def _settings(energy):
    return {
        "backend": "gflash",
        "particle": "e-",
        "energy_gev": {"spectrum": "list", "values": [energy]},
        "incidence_angle_deg": {"min": 0, "max": 0},
    }


def _visible(geometry, energy, n, seed):
    sample = simulate_showers(geometry, _settings(energy), n, np.random.default_rng(seed))
    return sample.cells.sum(axis=(1, 2, 3), dtype=np.float64)


def test_yaml_matches_the_derivation():
    assert F_SAMP == pytest.approx(0.02444, rel=1e-3)  # guards the constants above against typos
    assert W_SI.sampling_fraction == pytest.approx(F_SAMP, rel=2e-3)
    assert W_SI.stochastic_term == pytest.approx(STOCHASTIC, rel=2e-3)
    assert W_SI.layer_thickness_mm == W_MM + SI_MM
    assert W_SI.nz == 25 and W_SI.cell_size_x_mm == 5.1
    # one sampling period of the effective medium is about one X0; 25 layers contain an EM shower
    assert 24 < W_SI.nz * W_SI.layer_thickness_mm / W_SI.material.radiation_length_mm < 26


def test_contained_response_and_resolution_follow_the_formula():
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


def test_default_grid_loses_only_leakage():
    """The 25 x 25 x 25 grid (12.8 cm wide, 25 X0 deep) keeps most of a 50 GeV shower."""
    fraction = _visible(W_SI, 50.0, 100, 3).mean() / 50.0 / F_SAMP
    assert 0.93 < fraction < 1.0
