"""The calorimeter file layouts (twins.calo.io): the simulator's ROOT chunks and their merge into shower HDF5."""

import json

import h5py
import numpy as np
import pytest
import uproot

from tests.calo.calo_samples import TOY_GEOMETRY, toy_showers
from twins.calo.io import (
    convert_root_to_hdf5,
    iterate_root_showers,
    read_root_metadata,
    read_showers_h5,
    write_showers_root,
)
from twins.core.io import InputFileError, get_provenance


def write_chunks(tmp_path, sizes, geometry=TOY_GEOMETRY):
    paths = []
    for k, n in enumerate(sizes):
        path = tmp_path / f"chunk_{k}.root"
        write_showers_root(path, toy_showers(n, seed=k), geometry, {"step": "calo_simulate", "chunk": k})
        paths.append(path)
    return paths


def test_root_round_trip_keeps_values_and_metadata(tmp_path):
    (path,) = write_chunks(tmp_path, [25])
    meta = read_root_metadata(path)
    assert meta["geometry"] == TOY_GEOMETRY and meta["entries"] == 25
    assert meta["provenance"]["chunk"] == 0
    parts = list(iterate_root_showers(path, step_size=10))
    assert [len(p) for p in parts] == [10, 10, 5]
    expected = toy_showers(25, seed=0)
    np.testing.assert_array_equal(np.concatenate([p.cells for p in parts]), expected.cells)
    np.testing.assert_array_equal(np.concatenate([p.energy for p in parts]), expected.energy)


def test_convert_merges_chunks_into_compressed_hdf5(tmp_path):
    paths = write_chunks(tmp_path, [30, 17])
    out = tmp_path / "showers.h5"
    n = convert_root_to_hdf5(paths, out, {"step_size": 8, "chunk_showers": 16})
    assert n == 47
    merged = read_showers_h5(out)
    np.testing.assert_array_equal(merged.cells[:30], toy_showers(30, seed=0).cells)
    np.testing.assert_array_equal(merged.cells[30:], toy_showers(17, seed=1).cells)
    with h5py.File(out) as f:
        assert f["showers"].dtype == np.float32 and f["showers"].compression == "gzip"
        assert f["showers"].chunks[0] == 16
        assert json.loads(f.attrs["geometry"]) == TOY_GEOMETRY
    record = get_provenance(out)
    assert set(record["inputs"]) == {str(p) for p in paths}
    assert [u["chunk"] for u in record["upstream"]] == [0, 1]


def test_truncated_root_file_is_named_and_nothing_is_written(tmp_path):
    good, other = write_chunks(tmp_path, [40, 5])
    data = good.read_bytes()
    cut = tmp_path / "cut.root"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "showers.h5"
    with pytest.raises(InputFileError, match="cut.root"):
        convert_root_to_hdf5([other, cut], out, {"step_size": 8})
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


def test_foreign_root_file_says_what_is_missing(tmp_path):
    foreign = tmp_path / "foreign.root"
    with uproot.recreate(foreign) as f:
        f["events"] = {"px": np.arange(5.0)}
    with pytest.raises(InputFileError, match="foreign.root: missing \\['showers', 'geometry'\\]"):
        convert_root_to_hdf5([foreign], tmp_path / "out.h5", {})


def test_chunks_from_different_geometries_are_refused(tmp_path):
    a = write_chunks(tmp_path / "a", [5])[0]
    b = write_chunks(tmp_path / "b", [5], geometry={**TOY_GEOMETRY, "cell_size_x_mm": 5.0})[0]
    with pytest.raises(InputFileError, match="geometry differs"):
        convert_root_to_hdf5([a, b], tmp_path / "out.h5", {})
