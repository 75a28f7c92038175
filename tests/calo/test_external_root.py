"""Import of foreign Geant4 ROOT layouts (twins.calo.external_root) into the shower HDF5 format.

The foreign file is written here with uproot in a layout unlike ours: tree "events", cells stored
z-major ([nz][nx][ny]) as log10 of the energy in keV with a floor for empty cells, primary energy
in MeV, angle in degrees. The expected HDF5 content is computed independently from the known
truth (GeV, x-y-z order), not by calling the importer's helpers.
"""

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from twins.calo import io
from twins.calo.external_root import import_external_root, validate_mapping
from twins.calo.io import read_geometry_attr, read_showers_h5
from twins.core.io import InputFileError, get_provenance

SHAPE = (3, 4, 5)  # nx, ny, nz: all different, so a wrong axis order cannot pass
FLOOR = -3.0  # log10(keV) at or below which a cell is empty
MATERIAL = {
    "name": "W",
    "z_eff": 74.0,
    "radiation_length_mm": 3.504,
    "moliere_radius_mm": 9.327,
    "critical_energy_mev": 7.97,
    "density_g_cm3": 19.3,
    "source": "PDG, tungsten",
}
GEOMETRY = {
    "name": "foreign_3x4x5",
    "material": MATERIAL,
    "nx": 3,
    "ny": 4,
    "nz": 5,
    "cell_size_x_mm": 5.0,
    "cell_size_y_mm": 5.0,
    "layer_thickness_mm": 3.5,
    "sampling_fraction": 0.1,
}
DROP = object()  # a mapping change that removes the key
MAPPING = {
    "tree": "events",
    "cells_branch": "edep_log",
    "cells_shape": list(SHAPE),
    "cells_order": "zxy",
    "cells_unit": "keV",
    "cells_transform": "log10",
    "cells_floor": FLOOR,
    "energy_branch": "Ekin",
    "energy_unit": "MeV",
    "theta_branch": "angle",
    "theta_unit": "deg",
    "particle": "gamma",
    "geometry": GEOMETRY,
}


def _truth(n, seed):
    """Cells in GeV, (n, nx, ny, nz), with some empty cells; energies in GeV; angles in degrees."""
    rng = np.random.default_rng(seed)
    cells = rng.uniform(0.01, 2.0, (n, *SHAPE))  # GeV
    cells[rng.random(cells.shape) < 0.3] = 0.0
    return cells, rng.uniform(1, 100, n), rng.uniform(0, 30, n)


def _write_foreign(path, cells_gev, energy_gev, angle_deg, extra_junk=False):
    """Tree 'events': edep_log float[nz][nx][ny] = log10(E/keV), empty cells at FLOOR - 2; Ekin (MeV); angle (deg)."""
    with np.errstate(divide="ignore"):
        stored = np.log10(cells_gev * 1e6)
    stored[cells_gev == 0] = FLOOR - 2.0
    stored = stored.transpose(0, 3, 1, 2)  # (n, nz, nx, ny)
    with uproot.recreate(path) as f:
        f.mktree("events", {"edep_log": ("f8", stored.shape[1:]), "Ekin": "f8", "angle": "f4", "run": "i4"})
        f["events"].extend(
            {
                "edep_log": stored,
                "Ekin": energy_gev * 1e3,
                "angle": angle_deg.astype("f4"),
                "run": np.zeros(len(energy_gev), "i4"),
            }
        )


@pytest.fixture
def foreign(tmp_path):
    files, truth = [], []
    for i, n in enumerate((7, 11)):
        cells, energy, angle = _truth(n, seed=i)
        path = tmp_path / f"run{i}.root"
        _write_foreign(path, cells, energy, angle)
        files.append(path)
        truth.append((cells, energy, angle))
    return files, truth


def test_import_converts_order_units_and_floor(foreign, tmp_path):
    files, truth = foreign
    out = tmp_path / "out" / "showers.h5"
    n = import_external_root(files, MAPPING, out, {"step_size": 3, "chunk_showers": 4})  # several steps per file
    cells = np.concatenate([t[0] for t in truth])
    energy = np.concatenate([t[1] for t in truth])
    angle = np.concatenate([t[2] for t in truth])
    assert n == len(energy) == 18
    sample = read_showers_h5(out)
    assert sample.cells.shape == (18, *SHAPE)
    np.testing.assert_allclose(sample.cells, cells, rtol=1e-6, atol=0)  # float32 GeV; empty cells exactly 0
    assert np.array_equal(sample.cells == 0, cells == 0)
    np.testing.assert_allclose(sample.energy, energy, rtol=1e-12)
    np.testing.assert_allclose(sample.theta, np.deg2rad(angle.astype("f4")), rtol=1e-6)
    assert np.all(sample.pdg == 22)
    geometry = read_geometry_attr(out)
    assert (geometry["nx"], geometry["ny"], geometry["nz"]) == SHAPE
    assert geometry["material"]["name"] == "W"
    record = get_provenance(out)
    assert record["step"] == "calo_import_external"
    assert sorted(record["inputs"]) == sorted(str(p) for p in files)
    assert record["config"]["mapping"]["cells_order"] == "zxy"


def test_constant_energy_flat_branch_and_default_theta(tmp_path):
    """A flat float[nx*ny*nz] branch in x-major order, linear MeV, constant energy, no angle."""
    cells, _, _ = _truth(5, seed=3)
    path = tmp_path / "flat.root"
    with uproot.recreate(path) as f:
        f.mktree("hits", {"E": ("f4", (int(np.prod(SHAPE)),))})
        f["hits"].extend({"E": (cells * 1e3).reshape(5, -1).astype("f4")})
    mapping = {
        "tree": "hits",
        "cells_branch": "E",
        "cells_shape": list(SHAPE),
        "cells_unit": "MeV",
        "energy_value": 50.0,
        "geometry": GEOMETRY,
    }
    assert import_external_root([path], mapping, tmp_path / "o.h5", {}) == 5
    sample = read_showers_h5(tmp_path / "o.h5")
    np.testing.assert_allclose(sample.cells, cells, rtol=1e-6)
    assert np.all(sample.energy == 50.0) and np.all(sample.theta == 0.0) and np.all(sample.pdg == 11)


def test_variable_length_branch_is_read_and_its_length_checked(tmp_path):
    cells, _, _ = _truth(4, seed=5)
    good, bad = tmp_path / "vec.root", tmp_path / "vec_bad.root"
    rows = [list(c.ravel()) for c in cells]
    for path, content in ((good, rows), (bad, rows[:2] + [rows[2][:-1]] + rows[3:])):
        with uproot.recreate(path) as f:
            f.mktree("events", {"cells": "var * float64"})
            f["events"].extend({"cells": ak.Array(content)})
    mapping = {
        "tree": "events",
        "cells_branch": "cells",
        "cells_shape": list(SHAPE),
        "energy_value": 10.0,
        "geometry": GEOMETRY,
    }
    import_external_root([good], mapping, tmp_path / "o.h5", {"step_size": 2})
    np.testing.assert_allclose(read_showers_h5(tmp_path / "o.h5").cells, cells, rtol=1e-6)
    with pytest.raises(InputFileError, match=r"entry 2 has 59 numbers.*needs 60"):
        import_external_root([bad], mapping, tmp_path / "o2.h5", {"step_size": 2})
    assert not (tmp_path / "o2.h5").exists()


def test_wrong_branch_lists_what_the_file_holds(foreign, tmp_path):
    files, _ = foreign
    out = tmp_path / "o.h5"
    with pytest.raises(InputFileError) as err:
        import_external_root(files, {**MAPPING, "cells_branch": "edep"}, out, {})
    msg = str(err.value)
    assert "no branch 'edep'" in msg and "cells_branch" in msg
    for listed in (
        "TTree 'events' (7 entries)",
        "edep_log: double[5][3][4]",
        "Ekin: double",
        "angle: float",
        "run: int32_t",
    ):
        assert listed in msg, msg
    with pytest.raises(InputFileError, match=r"no TTree 'showers'.*\n.*TTree 'events'"):
        import_external_root(files, {**MAPPING, "tree": "showers"}, out, {})
    assert not out.exists()


def test_wrong_shape_or_order_is_an_error(foreign, tmp_path):
    files, _ = foreign
    out = tmp_path / "o.h5"
    other = {**GEOMETRY, "nx": 4, "ny": 3}
    with pytest.raises(InputFileError, match=r"double\[5\]\[3\]\[4\].*needs \[5, 4, 3\]"):
        import_external_root(files, {**MAPPING, "cells_shape": [4, 3, 5], "geometry": other}, out, {})
    with pytest.raises(InputFileError, match=r"needs \[3, 4, 5\]"):  # same size, wrong axis order
        import_external_root(files, {**MAPPING, "cells_order": "xyz"}, out, {})
    with pytest.raises(InputFileError, match="must hold one number per event"):
        import_external_root(files, {**MAPPING, "energy_branch": "edep_log"}, out, {})
    assert not out.exists()


def test_failure_in_a_later_file_leaves_no_output(foreign, tmp_path):
    files, _ = foreign
    out = tmp_path / "o.h5"
    broken = tmp_path / "broken.root"
    broken.write_bytes(files[0].read_bytes()[:2000])
    with pytest.raises(InputFileError, match="broken.root"):
        import_external_root([*files, broken], MAPPING, out, {})
    assert not out.exists() and not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


@pytest.mark.parametrize(
    "change, message",
    [
        ({"cells_unit": "TeV"}, r"cells_unit': 'TeV' is not one of \['eV', 'keV', 'MeV', 'GeV'\]"),
        ({"cells_order": "xxz"}, r"cells_order': 'xxz' does not match '\^\(xyz\|xzy\|yxz\|yzx\|zxy\|zyx\)\$'"),
        ({"cells_transform": "ln"}, r"cells_transform': 'ln' is not one of \['none', 'log10'\]"),
        ({"cells_transform": "none"}, r"cells_floor is only meaningful with cells_transform: log10"),
        ({"theta_unit": "grad"}, r"theta_unit': 'grad' is not one of \['rad', 'deg'\]"),
        ({"particle": "mu-"}, r"particle': 'mu-' is not one of \['e-', 'e\+', 'gamma'\]"),
        ({"energy_value": 5.0}, r"exactly one of energy_branch .* and energy_value"),
        ({"energy_branch": None}, r"exactly one of energy_branch .* and energy_value"),
        ({"theta_value": 0.1}, r"at most one of theta_branch and theta_value"),
        ({"cells_shape": [3, 4]}, r"cells_shape': \[3, 4\] is too short"),
        ({"cells_shape": [4, 3, 5]}, r"cells_shape \[4, 3, 5\] differs from the geometry's"),
        ({"tree": DROP}, r"'tree' is a required property"),
        (
            {"cell_branch": "x"},
            r"Additional properties are not allowed \('cell_branch' was unexpected\); allowed keys: ",
        ),
        ({"geometry": {**GEOMETRY, "nx": 0}}, r"geometry: nx must be an integer >= 1"),
    ],
)
def test_mapping_validation(change, message):
    mapping = {key: value for key, value in {**MAPPING, **change}.items() if value is not DROP}
    with pytest.raises(ValueError, match=message):
        validate_mapping(mapping)


def test_mapping_defaults_and_geometry_file(repo):
    m = validate_mapping(
        {
            "tree": "t",
            "cells_branch": "c",
            "cells_shape": [12, 12, 25],
            "energy_value": 1.0,
            "geometry": str(repo / "resources" / "calo" / "geometry_pb_lar_sampling.yaml"),
        }
    )
    assert {k: m[k] for k in ("cells_order", "cells_unit", "cells_transform", "theta_unit", "particle")} == {
        "cells_order": "xyz",
        "cells_unit": "GeV",
        "cells_transform": "none",
        "theta_unit": "rad",
        "particle": "e-",
    }
    assert m["geometry"].material.name == "Pb_LAr"
    schema = yaml.safe_load((repo / "workflow" / "schemas" / "calo.schema.yaml").read_text())
    assert set(schema["$defs"]["external_root"]["properties"]) >= set(MAPPING)  # every key the tests use is known


def test_reads_in_steps_of_step_size(foreign, tmp_path, monkeypatch):
    """Memory is bounded by the step: no append ever holds more than step_size showers."""
    sizes = []
    original = io.ShowerHDF5Writer.append
    monkeypatch.setattr(io.ShowerHDF5Writer, "append", lambda self, s: (sizes.append(len(s)), original(self, s)))
    files, _ = foreign
    import_external_root(files, MAPPING, tmp_path / "o.h5", {"step_size": 4})
    assert sizes == [4, 3, 4, 4, 3]  # files of 7 and 11 events


def _write_par04_like(path, cells_gev, energy_gev, z_offset=0):
    """Geant4 Par04's layout: tree 'events', EnergyMC (MeV), EnergyCell (MeV) of the non-empty cells
    with their integer rhoCell, phiCell, zCell indices; here rho, phi, z play x, y, z."""
    rows = {"EnergyCell": [], "rhoCell": [], "phiCell": [], "zCell": []}
    for event in cells_gev:
        ix, iy, iz = np.nonzero(event)
        order = np.random.default_rng(len(ix)).permutation(len(ix))  # hits in no particular order
        rows["EnergyCell"].append(list(event[ix, iy, iz][order] * 1e3))
        rows["rhoCell"].append(list(ix[order]))
        rows["phiCell"].append(list(iy[order]))
        rows["zCell"].append(list(iz[order] + z_offset))
    with uproot.recreate(path) as f:
        f.mktree(
            "events",
            {
                "EnergyMC": "f8",
                "EnergyCell": "var * float64",
                "rhoCell": "var * int32",
                "phiCell": "var * int32",
                "zCell": "var * int32",
            },
        )
        f["events"].extend({"EnergyMC": energy_gev * 1e3, **{k: ak.Array(v) for k, v in rows.items()}})


PAR04 = {
    "tree": "events",
    "cells_branch": "EnergyCell",
    "cells_shape": list(SHAPE),
    "cells_unit": "MeV",
    "cells_index_branches": {"x": "rhoCell", "y": "phiCell", "z": "zCell"},
    "energy_branch": "EnergyMC",
    "energy_unit": "MeV",
    "geometry": GEOMETRY,
}


def test_sparse_index_layout(tmp_path):
    cells, energy, _ = _truth(9, seed=7)
    path = tmp_path / "par04.root"
    _write_par04_like(path, cells, energy)
    assert import_external_root([path], PAR04, tmp_path / "o.h5", {"step_size": 4}) == 9
    sample = read_showers_h5(tmp_path / "o.h5")
    np.testing.assert_allclose(sample.cells, cells, rtol=1e-6, atol=0)
    np.testing.assert_allclose(sample.energy, energy, rtol=1e-12)
    bad = tmp_path / "par04_bad.root"
    _write_par04_like(bad, cells, energy, z_offset=1)  # the last layer's hits now point past the grid
    with pytest.raises(InputFileError, match=r"index branch 'zCell' holds 5, outside \[0, 4\]"):
        import_external_root([bad], PAR04, tmp_path / "o2.h5", {})
    with pytest.raises(ValueError, match="cells_order must stay 'xyz'"):
        validate_mapping({**PAR04, "cells_order": "zxy"})
    with pytest.raises(ValueError, match=r"cells_index_branches': Additional properties are not allowed \('rho'"):
        validate_mapping({**PAR04, "cells_index_branches": {"rho": "rhoCell"}})
    with pytest.raises(ValueError, match=r"cells_index_branches must be null or a mapping \{x: branch"):
        validate_mapping({**PAR04, "cells_index_branches": {"x": "rhoCell"}})


def test_scalar_branch_as_a_one_cell_grid(tmp_path):
    """Geant4's basic example B4: ntuple 'B4' with Eabs, Egap (MeV), Labs, Lgap (mm) per event."""
    rng = np.random.default_rng(11)
    egap = rng.uniform(100, 500, 6)
    path = tmp_path / "B4.root"
    with uproot.recreate(path) as f:
        f.mktree("B4", {name: "f8" for name in ("Eabs", "Egap", "Labs", "Lgap")})
        f["B4"].extend({"Eabs": egap * 5, "Egap": egap, "Labs": egap, "Lgap": egap})
    one_cell = {**GEOMETRY, "nx": 1, "ny": 1, "nz": 1}
    mapping = {
        "tree": "B4",
        "cells_branch": "Egap",
        "cells_shape": [1, 1, 1],
        "cells_unit": "MeV",
        "energy_value": 10.0,
        "geometry": one_cell,
    }
    import_external_root([path], mapping, tmp_path / "o.h5", {})
    np.testing.assert_allclose(read_showers_h5(tmp_path / "o.h5").cells[:, 0, 0, 0], egap * 1e-3, rtol=1e-6)
