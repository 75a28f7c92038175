"""A real SIGTERM (what SLURM sends at the time limit) to a running training: it finishes the epoch, keeps
the checkpoint, exits non-zero, and the rerun ends with the weights of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import torch

TRAINING = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import torch
    from twins.core.training import CheckpointedTraining

    folder, epochs = Path(sys.argv[1]), int(sys.argv[2])
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    data_rng = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(1))
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])

    def train_epoch(epoch):
        losses = []
        for batch in torch.randperm(64, generator=data_rng).split(16):
            optimizer.zero_grad()
            loss = torch.mean((model(x[batch]) - y[batch]) ** 2)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            time.sleep(0.05)  # an epoch long enough for the signal to land inside it
        return {"mse": sum(losses) / len(losses)}

    loop = CheckpointedTraining(folder / "ckpt.pt", folder / "history.csv", {"model": model}, {"opt": optimizer},
                                generators={"data": data_rng}, fingerprint={"lr": 0.05})
    loop.run(epochs, train_epoch)
    torch.save(model.state_dict(), folder / "final.pt")
    """
)


def start(folder, epochs) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-c", TRAINING, str(folder), str(epochs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def test_sigterm_checkpoints_exits_non_zero_and_the_rerun_matches_an_uninterrupted_run(tmp_path):
    epochs = 8
    straight = start(tmp_path / "straight", epochs)
    interrupted = start(tmp_path / "interrupted", epochs)
    history = tmp_path / "interrupted" / "history.csv"
    deadline = time.monotonic() + 120
    while not (history.exists() and len(pd.read_csv(history)) >= 2):
        assert interrupted.poll() is None and time.monotonic() < deadline, "the training ended before the signal"
        time.sleep(0.05)
    interrupted.send_signal(signal.SIGTERM)
    _, stderr = interrupted.communicate(timeout=60)
    assert interrupted.returncode != 0
    assert "TrainingInterrupted: stopped by SIGTERM after epoch" in stderr
    stopped_after = len(pd.read_csv(history))
    assert 2 <= stopped_after < epochs and not (tmp_path / "interrupted" / "final.pt").exists()

    rerun = start(tmp_path / "interrupted", epochs)
    assert rerun.wait(timeout=120) == 0, rerun.stderr.read()
    assert straight.wait(timeout=120) == 0, straight.stderr.read()
    assert len(pd.read_csv(history)) == epochs
    a = torch.load(tmp_path / "straight" / "final.pt", weights_only=True)
    b = torch.load(tmp_path / "interrupted" / "final.pt", weights_only=True)
    for key in a:
        assert torch.equal(a[key], b[key]), key
