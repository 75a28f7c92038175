import re

import numpy as np
import pandas as pd
import pytest
import torch

from twins.core.device import select_device
from twins.core.training import CheckpointedTraining, TrainingDiverged


def regression_run(tmp_path, epochs, lr=0.05, fail_at=None, seed=0):
    """A tiny linear regression trained with the shared loop; returns (weights, history)."""
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    data_rng = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(1))
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])

    def train_epoch(epoch):
        order = torch.randperm(64, generator=data_rng)
        losses = []
        for batch in order.split(16):
            optimizer.zero_grad()
            loss = torch.mean((model(x[batch]) - y[batch]) ** 2)
            if fail_at is not None and epoch == fail_at:
                loss = loss * float("nan")
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return {"mse": float(np.mean(losses))}

    loop = CheckpointedTraining(
        tmp_path / "ckpt.pt",
        tmp_path / "history.csv",
        {"model": model},
        {"opt": optimizer},
        generators={"data": data_rng},
        fingerprint={"lr": lr, "seed": seed},
    )
    history = loop.run(epochs, train_epoch)
    return model.weight.detach().clone(), history


def test_loss_decreases_and_history_is_written(tmp_path):
    _, history = regression_run(tmp_path, 5)
    assert list(history["epoch"]) == [0, 1, 2, 3, 4]
    assert history["mse"].iloc[-1] < 0.5 * history["mse"].iloc[0]
    assert pd.read_csv(tmp_path / "history.csv")["mse"].tolist() == pytest.approx(history["mse"].tolist())


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    straight, _ = regression_run(tmp_path / "a", 4)
    regression_run(tmp_path / "b", 2)  # "killed" after two epochs
    resumed, history = regression_run(tmp_path / "b", 4)
    assert torch.equal(straight, resumed)
    assert list(history["epoch"]) == [0, 1, 2, 3]


def test_fewer_epochs_than_the_checkpoint_holds_trains_afresh(tmp_path):
    three, _ = regression_run(tmp_path / "a", 3)
    regression_run(tmp_path / "b", 5)
    again, history = regression_run(tmp_path / "b", 3)
    assert torch.equal(three, again) and list(history["epoch"]) == [0, 1, 2]


def test_other_settings_do_not_resume(tmp_path):
    regression_run(tmp_path, 2, lr=0.05)
    _, history = regression_run(tmp_path, 2, lr=0.01)
    assert len(history) == 2  # started from scratch, not "already done"


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(TrainingDiverged, match="non-finite loss at epoch 2"):
        regression_run(tmp_path, 4, fail_at=2)
    state = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    assert state["epoch"] == 1
    assert np.isfinite(state["modules"]["model"]["weight"].numpy()).all()


def test_device_choice():
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            select_device("cuda")


def scripted_run(tmp_path, epochs, val_losses, patience=2):
    """A model whose weight counts epochs, with a scripted validation loss."""
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def train_epoch(epoch):
        with torch.no_grad():
            model.weight += 1
        return {"loss": 1.0, "val_loss": val_losses[epoch]}

    loop = CheckpointedTraining(
        tmp_path / "ckpt.pt",
        tmp_path / "history.csv",
        {"model": model},
        {"opt": optimizer},
        early_stopping={"monitor": "val_loss", "patience": patience},
    )
    history = loop.run(epochs, train_epoch)
    return model.weight.item(), history


def test_early_stopping_keeps_the_best_epoch_and_resumes_to_the_same_stop(tmp_path):
    val = [3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    weight, history = scripted_run(tmp_path / "a", 8, val)
    assert list(history["epoch"]) == [0, 1, 2, 3, 4]  # no improvement for 2 epochs after epoch 2
    assert weight == 3.0  # weights of epoch 2 (three increments)
    again, history = scripted_run(tmp_path / "a", 8, val)
    assert again == 3.0 and len(history) == 5
    scripted_run(tmp_path / "b", 3, val)  # killed after three epochs
    resumed, history = scripted_run(tmp_path / "b", 8, val)
    assert resumed == 3.0 and list(history["epoch"]) == [0, 1, 2, 3, 4]


def test_runaway_finite_loss_stops_and_the_kept_checkpoint_stays_usable(tmp_path):
    """SGD with too large a step diverges geometrically: losses 19, 490, 3800, ... stay finite for a long time
    (tpc with lr_generator 600 reached 5e34); the guard stops it before the diverged weights are saved."""
    with pytest.raises(TrainingDiverged, match=r"runaway loss at epoch (\d+)") as info:
        regression_run(tmp_path, 30, lr=1.2)
    message = str(info.value)
    assert "not overwritten" in message and "part of the settings fingerprint" in message
    diverged_at = int(re.search(r"runaway loss at epoch (\d+)", message)[1])
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert state["epoch"] == diverged_at - 1 and f"checkpoint (epoch {diverged_at - 1})" in message
    assert all(np.isfinite(row["mse"]) and row["mse"] < 1e12 for row in state["history"])
    assert len(pd.read_csv(tmp_path / "history.csv")) == diverged_at
    # unchanged settings resume from the kept checkpoint (here: it already holds the epochs asked for) ...
    _, history = regression_run(tmp_path, diverged_at, lr=1.2)
    assert len(history) == diverged_at
    # ... and a lower learning rate, as the message says, is another fingerprint: training starts from scratch
    _, history = regression_run(tmp_path, 3, lr=0.05)
    assert list(history["epoch"]) == [0, 1, 2] and history["mse"].iloc[-1] < 0.5 * history["mse"].iloc[0]


def scripted_losses(tmp_path, rows):
    """The shared loop on a tiny model whose epochs report the scripted loss dicts `rows`."""
    model = torch.nn.Linear(1, 1)
    loop = CheckpointedTraining(
        tmp_path / "ckpt.pt", tmp_path / "history.csv", {"model": model}, {"opt": torch.optim.SGD(model.parameters())}
    )
    return loop.run(len(rows), lambda epoch: rows[epoch])


def test_divergence_guard_leaves_healthy_loss_shapes_alone(tmp_path):
    rows = [  # the shapes healthy runs show: a reverse-KL loss whose first epoch is its largest and that turns
        # negative, a Wasserstein critic that grows a few hundredfold, a loss that shrinks to nearly nothing
        {"kl": 620.0, "critic": -1.5, "bce": 0.9, "lr": 1e-5},
        {"kl": -20.0, "critic": -0.3, "bce": 0.5, "lr": 1e-4},
        {"kl": -26.0, "critic": 0.01, "bce": 0.2, "lr": 1e-3},
        {"kl": -290.0, "critic": 450.0, "bce": 1e-4, "lr": 3e-3},
        {"kl": -33.0, "critic": -600.0, "bce": 1e-9, "lr": 1e-6},
    ]
    assert len(scripted_losses(tmp_path / "a", rows)) == 5
    with pytest.raises(TrainingDiverged, match=r"runaway loss at epoch 0: kl=1e\+13 .*checkpoint \(none\)"):
        scripted_losses(tmp_path / "b", [{"kl": 1e13}])
    assert not (tmp_path / "b" / "ckpt.pt").exists()
    with pytest.raises(TrainingDiverged, match=r"runaway loss at epoch 3: critic=2e\+06 "):
        scripted_losses(tmp_path / "c", [{"critic": c} for c in (-1.5, 0.3, 1.0, 2e6)])  # 1e6 x max(1, median)
