"""The registry of calorimeter generators (twins.calo.models): the model names, their entry points, and
data-parallel training through train_model (2 gloo processes under torchrun follow the one-process run)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from tests.calo.calo_samples import REPO, sparse_toy_showers, write_caloinn_split
from twins.calo.models import MODELS, get_model, train_model
from twins.core.distributed import DistributedContext, process_count
from twins.core.model_file import load_model

# float summation order differs (two half-batch gradients averaged vs one full batch): agreement to this
WEIGHT_TOLERANCE = 1e-4
TINY = {"epochs": 2, "batch_size": 16, "blocks": 2, "hidden_features": [16], "bins": 4, "noise_level_gev": 5e-5}


def test_the_registry_holds_the_models_the_schema_allows():
    schema = yaml.safe_load((REPO / "workflow/schemas/calo.schema.yaml").read_text())
    assert sorted(MODELS) == sorted(schema["properties"]["models"]["items"]["enum"])
    for name, entry in MODELS.items():
        assert get_model(name) is entry
        assert callable(entry.train) and callable(entry.sample) and entry.history_panels
    assert get_model("gan3d").distributed_worker is None  # its BatchNorm would see per-process statistics
    with pytest.raises(ValueError, match="unknown calo model 'vae'.*calo.models.*caloinn"):
        get_model("vae")


def test_process_count_takes_the_config_or_one_per_gpu():
    assert process_count(1, gpus=0, cuda_available=False) == 1
    assert process_count(2, gpus=0, cuda_available=False) == 2
    assert process_count(1, gpus=4, cuda_available=True) == 4
    assert process_count(1, gpus=4, cuda_available=False) == 1  # GPUs requested but none visible
    with pytest.raises(ValueError, match=">= 1"):
        process_count(0, gpus=0)


def test_shard_splits_a_batch_evenly_or_names_the_problem():
    assert DistributedContext(rank=1, world_size=2).shard(16) == slice(8, 16)
    assert DistributedContext().shard(15) == slice(0, 15)
    with pytest.raises(ValueError, match="batch_size divisible"):
        DistributedContext(rank=0, world_size=2).shard(15)


@pytest.mark.workflow
def test_two_processes_match_one_process_with_the_same_effective_batch(tmp_path):
    rng = np.random.default_rng(5)
    write_caloinn_split(tmp_path / "train.h5", *sparse_toy_showers(64, rng), 1.0e-4)
    write_caloinn_split(tmp_path / "validation.h5", *sparse_toy_showers(32, rng), 1.0e-4)
    runs = {}
    for processes in (1, 2):
        out = tmp_path / f"p{processes}"
        settings = {**TINY, "processes": processes}
        train_model(
            "caloinn",
            tmp_path / "train.h5",
            tmp_path / "validation.h5",
            settings,
            seed=11,
            device="cpu",
            checkpoint_path=out / "ckpt.pt",
            out_model=out / "model.pt",
            out_history=out / "history.csv",
            out_losses_png=out / "losses.png",
            threads=2,
        )
        runs[processes] = out
    single = load_model(runs[1] / "model.pt", "calo", "caloinn", "test").weights["flow"]
    double = load_model(runs[2] / "model.pt", "calo", "caloinn", "test").weights["flow"]
    assert single.keys() == double.keys()
    for key in single:
        torch.testing.assert_close(double[key], single[key], rtol=0, atol=WEIGHT_TOLERANCE, msg=key)
    history_1, history_2 = pd.read_csv(runs[1] / "history.csv"), pd.read_csv(runs[2] / "history.csv")
    np.testing.assert_allclose(history_2["loss"], history_1["loss"], rtol=1e-4)
    np.testing.assert_allclose(history_2["val_loss"], history_1["val_loss"], rtol=1e-4)
    assert history_1["loss"].iloc[-1] < history_1["loss"].iloc[0]  # both really trained
    assert (runs[2] / "losses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # drawn by the registry
