import numpy as np
import pandas as pd
import pytest
import torch

from twins.core.training import CheckpointedTraining, TrainingDiverged, select_device


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
