"""Geant4 backend: clear errors without data sets, never a prompt or download; full run only with G4 data."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from twins.calo import geant4
from twins.calo.geant4 import GEANT4_DATA_VARIABLES, Geant4DataError, check_geant4_data
from twins.calo.geometry import load_geometry
from twins.calo.simulators import simulate_showers

REPO = Path(__file__).resolve().parents[2]
PBWO4 = load_geometry(REPO / "resources" / "calo" / "geometry_pbwo4.yaml")
SETTINGS = {
    "backend": "geant4",
    "particle": "e-",
    "energy_gev": {"spectrum": "list", "values": [10.0]},
    "incidence_angle_deg": {"min": 0, "max": 0},
}


@pytest.fixture
def no_g4_env(monkeypatch):
    for var in GEANT4_DATA_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CI", "true")  # geant4_pybind would download unasked with CI=true


def test_the_standard_variables_are_checked():
    expected = {
        "G4LEDATA",
        "G4LEVELGAMMADATA",
        "G4ENSDFSTATEDATA",
        "G4PARTICLEXSDATA",
        "G4SAIDXSDATA",
        "G4ABLADATA",
        "G4INCLDATA",
        "G4PIIDATA",
        "G4REALSURFACEDATA",
        "G4RADIOACTIVEDATA",
        "G4NEUTRONHPDATA",
    }
    assert expected <= set(GEANT4_DATA_VARIABLES)


def test_missing_variables_are_named_with_the_fix(no_g4_env):
    with pytest.raises(Geant4DataError) as err:
        check_geant4_data()
    message = str(err.value)
    for var in GEANT4_DATA_VARIABLES:
        assert var in message
    assert "export" in message and "geant4.sh" in message


def test_invalid_and_missing_are_told_apart(tmp_path):
    data = tmp_path / "G4EMLOW"
    data.mkdir()
    (data / "README").write_text("x")
    env = {var: str(data) for var in GEANT4_DATA_VARIABLES}
    env["G4LEVELGAMMADATA"] = str(tmp_path / "does_not_exist")
    del env["G4ABLADATA"]
    with pytest.raises(Geant4DataError) as err:
        check_geant4_data(env)
    message = str(err.value)
    assert "Invalid environment variables: G4LEVELGAMMADATA" in message
    assert "Missing environment variables: G4ABLADATA" in message
    assert "G4LEDATA" not in message.split("Fix:")[0]
    env["G4LEVELGAMMADATA"] = env["G4ABLADATA"] = str(data)
    assert set(check_geant4_data(env)) == set(GEANT4_DATA_VARIABLES)


def test_backend_fails_before_importing_geant4(no_g4_env, monkeypatch):
    """The data check runs before geant4_pybind is imported, so nothing can prompt or download."""
    monkeypatch.delitem(sys.modules, "geant4_pybind", raising=False)

    def forbidden(*args, **kwargs):
        raise AssertionError("geant4_pybind must not be imported without data sets")

    monkeypatch.setattr(geant4, "_run_geant4", forbidden)
    with pytest.raises(Geant4DataError, match="G4LEDATA"):
        simulate_showers(PBWO4, SETTINGS, 2, np.random.default_rng(0))
    assert "geant4_pybind" not in sys.modules


def test_effective_sampling_media_are_refused():
    sampling = load_geometry(REPO / "resources" / "calo" / "geometry_pb_lar_sampling.yaml")
    with pytest.raises(ValueError, match="Pb_LAr"):
        geant4.simulate_showers_geant4(sampling, SETTINGS, 1, seed=1)


def test_full_geant4_run():
    """Real Geant4 showers: needs geant4_pybind and the data sets (absent on the test machines)."""
    if importlib.util.find_spec("geant4_pybind") is None:
        pytest.skip("geant4_pybind is not installed (optional extra: pip install 'twins[geant4]')")
    try:
        check_geant4_data()
    except Geant4DataError as err:
        pytest.skip(f"Geant4 data sets not configured: {err}")
    sample = geant4.simulate_showers_geant4(PBWO4, SETTINGS, 5, seed=3)
    assert sample.cells.shape == (5, 12, 12, 25)
    total = sample.cells.sum(axis=(1, 2, 3))
    assert np.all((total > 0.85 * 10.0) & (total <= 10.0))
