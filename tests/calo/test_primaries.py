"""The primaries: drawn for the simulation from calo.simulate (spectra, particles, the settings' checks), or
chosen for the generation (the test set's or the grid of calo.generate)."""

from pathlib import Path

import numpy as np
import pytest

from tests.calo.calo_samples import toy_showers
from twins.calo.geometry import load_geometry
from twins.calo.primaries import generation_conditions, sample_primaries
from twins.calo.simulators import simulate_showers

REPO = Path(__file__).resolve().parents[2]
PBWO4 = load_geometry(REPO / "resources" / "calo" / "geometry_pbwo4.yaml")

SETTINGS = {
    "backend": "gflash",
    "events": 100,
    "chunks": 1,
    "particle": "e-",
    "energy_gev": {"spectrum": "uniform", "min": 10, "max": 100},
    "incidence_angle_deg": {"min": 0, "max": 20},
}


@pytest.mark.parametrize("particle, pdg", [("e-", 11), ("e+", -11), ("gamma", 22)])
def test_primaries_particle(particle, pdg):
    _, _, ids = sample_primaries({**SETTINGS, "particle": particle}, 5, np.random.default_rng(0))
    assert ids.dtype == np.int32 and np.all(ids == pdg)


def test_primaries_spectra():
    rng = np.random.default_rng(0)
    listed, _, _ = sample_primaries({**SETTINGS, "energy_gev": {"spectrum": "list", "values": [20, 50]}}, 400, rng)
    assert set(listed) == {20.0, 50.0}
    log_u, _, _ = sample_primaries(
        {**SETTINGS, "energy_gev": {"spectrum": "log_uniform", "min": 1, "max": 100}}, 4000, rng
    )
    assert log_u.min() >= 1 and log_u.max() <= 100
    assert np.median(log_u) == pytest.approx(10.0, rel=0.1)  # log-uniform: median = sqrt(min max)
    _, theta, _ = sample_primaries({**SETTINGS, "incidence_angle_deg": {"min": 15, "max": 15}}, 3, rng)
    assert np.allclose(theta, np.deg2rad(15))


@pytest.mark.parametrize(
    "patch, key",
    [
        ({"energy_gev": {"spectrum": "gaussian", "min": 1, "max": 2}}, "energy_gev.spectrum"),
        ({"energy_gev": {"spectrum": "uniform", "min": 100, "max": 10}}, "energy_gev.min"),
        ({"energy_gev": {"spectrum": "uniform", "min": 10}}, "energy_gev.max"),
        ({"energy_gev": {"spectrum": "list", "values": []}}, "energy_gev.values"),
        ({"energy_gev": {"spectrum": "uniform", "min": -1, "max": 10}}, "energy_gev.min"),
        ({"particle": "proton"}, "particle"),
        ({"backend": "fluka"}, "backend"),
        ({"incidence_angle_deg": {"min": 30, "max": 10}}, "incidence_angle_deg.min"),
        ({"incidence_angle_deg": {"min": 0, "max": 80}}, "incidence_angle_deg.max"),
        ({"energy": 10}, "'energy' was unexpected"),  # an unknown key
    ],
)
def test_bad_settings_raise_value_error_naming_the_key(patch, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        simulate_showers(PBWO4, {**SETTINGS, **patch}, 2, np.random.default_rng(0))


def test_generation_conditions_from_test_set_or_grid():
    sample = toy_showers(5)
    energy, theta, pdg = generation_conditions(sample, {"conditions": "test"})
    np.testing.assert_array_equal(energy, sample.energy)
    grid = {"energy_gev": [10, 50], "incidence_angle_deg": [0, 30], "showers_per_point": 3}
    energy, theta, pdg = generation_conditions(sample, {"conditions": "grid", "grid": grid})
    assert len(energy) == 12 and sorted(set(energy)) == [10, 50]
    np.testing.assert_allclose(sorted(set(np.round(theta, 6))), [0, round(np.pi / 6, 6)])
    assert set(pdg) == {11}
