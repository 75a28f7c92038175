"""Geometry and material files: loading, validation errors, the cell frame, dict round trip."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from twins.calo.geometry import CaloGeometry, geometry_from_dict, load_geometry, load_materials

REPO = Path(__file__).resolve().parents[2]
CALO = REPO / "resources" / "calo"
E_S_MEV = 21.2052  # scale energy sqrt(4 pi / alpha) m_e c^2 of the PDG Moliere-radius definition


def test_default_geometry_matches_the_documented_detector():
    g = load_geometry(CALO / "geometry_pbwo4.yaml")
    assert g.shape == (12, 12, 25)
    assert g.material.name == "PbWO4"
    assert g.sampling_fraction == 1.0
    # layers of one X0, transverse cells about half a Moliere radius
    assert g.layer_thickness_mm == pytest.approx(g.material.radiation_length_mm)
    assert 0.4 < g.cell_size_x_mm / g.material.moliere_radius_mm < 0.6


def test_sampling_example_loads():
    g = load_geometry(CALO / "geometry_pb_lar_sampling.yaml")
    assert 0.1 < g.sampling_fraction < 0.3
    assert g.stochastic_term == pytest.approx(0.10)


def test_materials_are_physically_consistent():
    """PDG: R_M = X0 E_s / E_c; the table's three numbers must agree to 0.5 %."""
    materials = load_materials(CALO / "materials.yaml")
    assert {"PbWO4", "Pb", "W", "LAr", "Si"} <= set(materials)
    for m in materials.values():
        assert m.moliere_radius_mm == pytest.approx(
            m.radiation_length_mm * E_S_MEV / m.critical_energy_mev, rel=5e-3
        ), m.name
        assert m.source.strip()
    # X0 [g/cm^2] of lead from the PDG: 6.37
    pb = materials["Pb"]
    assert pb.radiation_length_mm / 10 * pb.density_g_cm3 == pytest.approx(6.37, rel=2e-3)


def test_to_dict_round_trips_through_json():
    g = load_geometry(CALO / "geometry_pbwo4.yaml")
    d = json.loads(json.dumps(g.to_dict()))
    assert geometry_from_dict(d) == g


def test_cell_centres_frame():
    g = load_geometry(CALO / "geometry_pbwo4.yaml")
    x, y, z = g.cell_centres_mm()
    assert x.shape == (12,) and y.shape == (12,) and z.shape == (25,)
    assert x.mean() == pytest.approx(0.0) and y.mean() == pytest.approx(0.0)
    assert x[0] == pytest.approx(-55.0) and x[-1] == pytest.approx(55.0)
    assert z[0] == pytest.approx(0.5 * g.layer_thickness_mm)
    assert np.allclose(np.diff(z), g.layer_thickness_mm)


def _write(tmp_path: Path, **changes) -> Path:
    raw = yaml.safe_load((CALO / "geometry_pbwo4.yaml").read_text())
    raw.update(changes)
    raw = {k: v for k, v in raw.items() if v is not None}
    raw["materials_file"] = str(CALO / "materials.yaml")
    path = tmp_path / "geometry.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"material": "Unobtainium"}, ["Unobtainium", "PbWO4", "allowed"]),
        ({"nx": 0}, ["nx", ">= 1"]),
        ({"nx": 2.5}, ["nx", "integer"]),
        ({"layer_thickness_mm": -1.0}, ["layer_thickness_mm", "> 0"]),
        ({"sampling_fraction": 1.5}, ["sampling_fraction", "(0, 1]"]),
        ({"stochastic_term": 3.0}, ["stochastic_term"]),
        ({"cell_size_z_mm": 1.0}, ["cell_size_z_mm", "unknown", "allowed"]),
        ({"nz": None}, ["missing", "nz"]),
    ],
)
def test_bad_geometry_errors_name_file_and_key(tmp_path, changes, words):
    path = _write(tmp_path, **changes)
    with pytest.raises(ValueError) as err:
        load_geometry(path)
    message = str(err.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_bad_material_entry_names_the_key(tmp_path):
    (tmp_path / "materials.yaml").write_text(
        yaml.safe_dump(
            {
                "Foo": {
                    "z_eff": 10,
                    "radiation_length_mm": -3,
                    "moliere_radius_mm": 1,
                    "critical_energy_mev": 1,
                    "density_g_cm3": 1,
                    "source": "x",
                }
            }
        )
    )
    raw = yaml.safe_load((CALO / "geometry_pbwo4.yaml").read_text())
    raw["material"] = "Foo"
    raw.pop("materials_file")
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="Foo.*radiation_length_mm"):
        load_geometry(tmp_path / "g.yaml")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_geometry(tmp_path / "nope.yaml")


def test_geometry_is_frozen():
    g = load_geometry(CALO / "geometry_pbwo4.yaml")
    with pytest.raises(AttributeError):
        g.nx = 3  # type: ignore[misc]
    assert isinstance(g, CaloGeometry)
