import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from tests.tpc.tpc_samples import train_files
from twins.core.io import InputFileError
from twins.core.model_file import load_model
from twins.tpc import steps
from twins.tpc.encoding import ENCODED
from twins.tpc.models import MODELS, get_model


def test_the_registry_holds_fast4_and_fast6():
    assert MODELS["fast6"].conditions == ENCODED and MODELS["fast4"].conditions == ENCODED[:5]
    assert get_model("fast4").columns == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="unknown tpc variant 'fast5'"):
        get_model("fast5")


def test_training_writes_the_history_and_resumes_to_the_same_weights(splits, trained):
    path, files = splits
    history = pd.read_csv(trained["fast6"]["history"])
    assert list(history["epoch"]) == [0, 1] and np.isfinite(history["val_wasserstein"]).all()
    assert (path / "fast6_losses.png").stat().st_size > 1000
    # a run killed after epoch 0 resumes from its checkpoint and ends with the same weights
    inputs, outputs, params = train_files(path, "fast6", files, epochs=1, name="killed")
    steps.train(inputs, outputs, params)
    inputs, outputs, params = train_files(path, "fast6", files, epochs=2, name="killed")
    steps.train(inputs, outputs, params)
    full = load_model(trained["fast6"]["model"], "tpc", "fast6", "tpc_train").weights["generator"]
    resumed = load_model(outputs["model"], "tpc", "fast6", "tpc_train").weights["generator"]
    for key, value in full.items():
        torch.testing.assert_close(value, resumed[key])


def test_model_file_of_another_variant_is_refused(trained):
    with pytest.raises(InputFileError, match="not a tpc fast6 model.*tpc_train"):
        get_model("fast6").load(trained["fast4"]["model"], torch.device("cpu"))


def test_generation_is_seeded(splits, trained):
    path, files = splits
    for name in ("a", "b"):
        steps.generate(
            {"model": trained["fast4"]["model"], "test": str(files["test"])},
            {"responses": str(path / f"{name}.h5"), "timing": str(path / f"{name}.json")},
            {"generate": {"batch_size": 64}, "seed": 5, "device": "cpu", "variant": "fast4"},
        )
    with h5py.File(path / "a.h5") as a, h5py.File(path / "b.h5") as b:
        np.testing.assert_array_equal(a["response"][...], b["response"][...])
        assert a["response"].shape == (100, 8, 16) and a["response"][...].min() >= 0
