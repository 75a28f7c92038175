"""Data-parallel CaloINN training: 2 gloo processes under torchrun follow the one-process run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tests.calo.test_caloinn import TINY, toy_showers, write_split
from twins.calo.models import train_model
from twins.core.distributed import DistributedContext, process_count

# float summation order differs (two half-batch gradients averaged vs one full batch): agreement to this
WEIGHT_TOLERANCE = 1e-4


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
    write_split(tmp_path / "train.h5", *toy_showers(64, rng))
    write_split(tmp_path / "validation.h5", *toy_showers(32, rng))
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
    single = torch.load(runs[1] / "model.pt", weights_only=False)["flow_state"]
    double = torch.load(runs[2] / "model.pt", weights_only=False)["flow_state"]
    assert single.keys() == double.keys()
    for key in single:
        torch.testing.assert_close(double[key], single[key], rtol=0, atol=WEIGHT_TOLERANCE, msg=key)
    history_1, history_2 = pd.read_csv(runs[1] / "history.csv"), pd.read_csv(runs[2] / "history.csv")
    np.testing.assert_allclose(history_2["loss"], history_1["loss"], rtol=1e-4)
    np.testing.assert_allclose(history_2["val_loss"], history_1["val_loss"], rtol=1e-4)
    assert history_1["loss"].iloc[-1] < history_1["loss"].iloc[0]  # both really trained
