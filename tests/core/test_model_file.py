"""The one model-file format: round trip, safe loading, and errors that name the file and the fix."""

from pathlib import Path

import numpy as np
import pytest
import torch

from twins.core.io import InputFileError
from twins.core.model_file import load_model, save_model


def test_round_trip_keeps_weights_and_metadata(tmp_path):
    net = torch.nn.Linear(3, 2)
    path = save_model(
        tmp_path / "m.pt",
        "calo",
        "gan3d",
        {"generator": net},
        {"architecture": {"hidden": [4, 2]}, "mean": np.array([1.5, 2.0]), "ranges": (0, 1)},
    )
    record = load_model(path, "calo", ("gan3d", "caloinn"), "calo_train")
    assert record.model == "gan3d" and record.meta["mean"] == [1.5, 2.0] and record.meta["ranges"] == [0, 1]
    other = record.load_into("generator", torch.nn.Linear(3, 2))
    assert all(torch.equal(a, b) for a, b in zip(other.state_dict().values(), net.state_dict().values()))
    assert not other.training


def test_a_file_with_python_objects_is_refused_not_run(tmp_path):
    """Model files of earlier versions pickled Python objects; loading them could run code, so they are refused."""
    torch.save({"format": "twins-model", "transform": Path("not/a/tensor")}, tmp_path / "legacy.pt")
    with pytest.raises(InputFileError, match=r"legacy\.pt.*could run code.*rerun calo_train"):
        load_model(tmp_path / "legacy.pt", "calo", "gan3d", "calo_train")


def test_wrong_twin_model_version_or_damage_is_named(tmp_path):
    path = save_model(tmp_path / "m.pt", "tpc", "fast4", {"generator": torch.nn.Linear(2, 2)}, {})
    with pytest.raises(InputFileError, match="a tpc fast4 model, not a calo gan3d model"):
        load_model(path, "calo", "gan3d", "calo_train")
    record = torch.load(path, weights_only=True)
    torch.save({**record, "version": 99}, tmp_path / "future.pt")
    with pytest.raises(InputFileError, match="version 99"):
        load_model(tmp_path / "future.pt", "tpc", "fast4", "tpc_train")
    (tmp_path / "cut.pt").write_bytes(path.read_bytes()[:100])
    with pytest.raises(InputFileError, match="cut.pt.*cannot be read"):
        load_model(tmp_path / "cut.pt", "tpc", "fast4", "tpc_train")
    with pytest.raises(InputFileError, match="not found; run tpc_train"):
        load_model(tmp_path / "absent.pt", "tpc", "fast4", "tpc_train")
    with pytest.raises(InputFileError, match="do not fit"):
        load_model(path, "tpc", "fast4", "tpc_train").load_into("generator", torch.nn.Linear(3, 2))
