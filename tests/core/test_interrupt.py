"""A real SIGTERM (what SLURM sends at the time limit) to a running training: it finishes the epoch, keeps
the checkpoint, raises TrainingInterrupted (the job exits non-zero), and the rerun ends with the weights of
an uninterrupted run."""

from __future__ import annotations

import os
import signal

import pandas as pd
import pytest
import torch

from twins.core.interrupt import TrainingInterrupted
from twins.core.training import CheckpointedTraining

EPOCHS = 6


def run(folder, signal_at_epoch=None):
    """A tiny regression trained with the shared loop; SIGTERM goes to this very process mid-epoch."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    data_rng = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(1))
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])

    def train_epoch(epoch):
        losses = []
        for step, batch in enumerate(torch.randperm(64, generator=data_rng).split(16)):
            if epoch == signal_at_epoch and step == 1:
                os.kill(os.getpid(), signal.SIGTERM)  # delivered now, in the middle of the epoch
                os.kill(os.getpid(), signal.SIGTERM)  # SLURM and Snakemake both send one: counts once
            optimizer.zero_grad()
            loss = torch.mean((model(x[batch]) - y[batch]) ** 2)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return {"mse": sum(losses) / len(losses)}

    loop = CheckpointedTraining(
        folder / "ckpt.pt",
        folder / "history.csv",
        {"model": model},
        {"opt": optimizer},
        generators={"data": data_rng},
        fingerprint={"lr": 0.05},
    )
    loop.run(EPOCHS, train_epoch)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_sigterm_checkpoints_stops_and_the_rerun_matches_an_uninterrupted_run(tmp_path):
    straight = run(tmp_path / "straight")
    with pytest.raises(TrainingInterrupted, match=f"stopped by SIGTERM after epoch 2 of {EPOCHS}"):
        run(tmp_path / "interrupted", signal_at_epoch=2)
    assert len(pd.read_csv(tmp_path / "interrupted" / "history.csv")) == 3  # epoch 2 finished and kept
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone after the run
    resumed = run(tmp_path / "interrupted")
    assert len(pd.read_csv(tmp_path / "interrupted" / "history.csv")) == EPOCHS
    for key, value in straight.items():
        assert torch.equal(value, resumed[key]), key
