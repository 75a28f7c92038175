import json

import h5py
import numpy as np
import pytest

from twins.core.io import InputFileError, atomic_path, get_provenance, read_datasets, set_provenance
from twins.core.provenance import code_version, make_provenance, to_json
from twins.core.seeding import derive_seed


def test_atomic_path_leaves_nothing_when_the_block_fails(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_renames_on_success(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"
    assert [p.name for p in target.parent.iterdir()] == ["out.txt"]


def test_provenance_records_inputs_and_code(tmp_path):
    source = tmp_path / "in.bin"
    source.write_bytes(b"abc")
    record = make_provenance("step", {"a": 1}, seed=3, inputs=[source])
    assert record["inputs"][str(source)] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert record["code"]["version"] == code_version()["version"]
    assert record["seed"] == 3 and record["config"] == {"a": 1}
    assert json.loads(to_json(record)) == record


def test_hdf5_provenance_round_trip_and_truncated_file(tmp_path):
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.arange(100000.0), chunks=(1000,), compression="gzip")
        set_provenance(f, {"step": "s"})
    assert get_provenance(path)["step"] == "s"
    assert read_datasets(path, ("data",))["data"].sum() == np.arange(100000.0).sum()
    with pytest.raises(InputFileError, match="missing dataset"):
        read_datasets(path, ("other",))
    truncated = tmp_path / "cut.h5"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputFileError, match="cut.h5.*(truncated|corrupt)"):
        read_datasets(truncated, ("data",))
    with pytest.raises(InputFileError, match="not found"):
        read_datasets(tmp_path / "absent.h5", ("data",))


def test_derived_seeds_are_stable_and_distinct():
    assert derive_seed(42, "calo", "simulate", 0) == derive_seed(42, "calo", "simulate", 0)
    seeds = {derive_seed(42, "calo", "simulate", k) for k in range(100)}
    assert len(seeds) == 100
    assert derive_seed(43, "calo", "simulate", 0) != derive_seed(42, "calo", "simulate", 0)
