"""The train step: fit the frame classifier with class weights, checkpoint/resume, early stopping."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from twins.core.io import read_datasets
from twins.core.plots import new_figure, save_figure
from twins.core.provenance import make_provenance, sha256_file
from twins.core.seeding import derive_seed, seed_everything
from twins.core.training import CheckpointedTraining, select_device
from twins.pulsar import CLASSES
from twins.pulsar.model import build_model, predict_probabilities, save_model

log = logging.getLogger(__name__)


def positive_weights(labels: np.ndarray, cap: float = 20.0) -> torch.Tensor:
    """pos_weight per class = negatives / positives (capped), for BCEWithLogits."""
    pos = labels.sum(axis=0).astype(float)
    neg = len(labels) - pos
    return torch.as_tensor(np.clip(neg / np.maximum(pos, 1.0), 1.0 / cap, cap), dtype=torch.float32)


def choose_thresholds(probabilities: np.ndarray, labels: np.ndarray, grid=np.arange(0.05, 0.951, 0.05)) -> list[float]:
    """Per class, the probability threshold with the highest accuracy on validation frames (ties: the
    one closest to 0.5). Chosen on the validation split, never on the test split that reports accuracy."""
    out = []
    for c in range(labels.shape[1]):
        accuracy = np.array([((probabilities[:, c] >= t) == labels[:, c]).mean() for t in grid])
        best = np.flatnonzero(accuracy >= accuracy.max() - 1e-12)
        out.append(float(np.round(grid[best[np.argmin(np.abs(grid[best] - 0.5))]], 4)))
    return out


def _load(path):
    d = read_datasets(path, ("frames", "labels"))
    return torch.as_tensor(d["frames"].astype(np.float32)), torch.as_tensor(d["labels"].astype(np.float32))


def train_classifier(
    train_h5: str | Path, validation_h5: str | Path, settings: dict, frames: dict, seed: int, device: str,
    checkpoint_path: str | Path, out_model: str | Path, out_history: str | Path, out_losses_png: str | Path | None = None,
    name: str = "model",
) -> dict:
    """Train on `train_h5`, monitor `validation_h5`; write the model, the history CSV and a loss plot."""
    seed_everything(derive_seed(seed, "pulsar", "train", name))
    torch_device = select_device(device)
    x_train, y_train = _load(train_h5)
    x_val, y_val = _load(validation_h5)
    model = build_model(settings, int(frames.get("size", 128))).to(torch_device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=settings["learning_rate"],
                                  weight_decay=settings.get("weight_decay", 0.0))
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=positive_weights(y_train.numpy()).to(torch_device))
    shuffle = torch.Generator().manual_seed(derive_seed(seed, "pulsar", "shuffle", name))
    batch = settings["batch_size"]

    def epoch(_: int) -> dict:
        model.train()
        order = torch.randperm(len(x_train), generator=shuffle)
        total = 0.0
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            xb, yb = x_train[idx, None], y_train[idx]
            if settings.get("augment_time_roll", False):
                # a pulse or an impulse may fall anywhere in a frame: a cyclic time shift keeps the labels
                # and keeps the small network from memorising where things are
                shift = int(torch.randint(xb.shape[2], (1,), generator=shuffle))
                xb = torch.roll(xb, shifts=shift, dims=2)
            xb, yb = xb.to(torch_device), yb.to(torch_device)
            optimiser.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            val = sum(float(loss_fn(model(x_val[s : s + 512, None].to(torch_device)), y_val[s : s + 512].to(torch_device)))
                      * len(x_val[s : s + 512]) for s in range(0, len(x_val), 512)) / max(len(x_val), 1)
        return {"loss": total / len(order), "val_loss": val}

    fingerprint = {"settings": {k: v for k, v in settings.items() if k != "epochs"}, "frames": frames, "seed": seed,
                   "inputs": [sha256_file(train_h5), sha256_file(validation_h5)]}
    trainer = CheckpointedTraining(
        checkpoint_path, out_history, modules={"model": model}, optimizers={"adamw": optimiser},
        generators={"shuffle": shuffle}, fingerprint=fingerprint,
        early_stopping={"monitor": "val_loss", "patience": settings["patience"]},
    )
    history = trainer.run(settings["epochs"], epoch)
    model = model.cpu().eval()
    thresholds = choose_thresholds(predict_probabilities(model, x_val), y_val.numpy())
    log.info("%s: thresholds chosen on validation %s", name, dict(zip(CLASSES, thresholds)))
    save_model(out_model, model, settings, frames,
               make_provenance("pulsar_train", settings, seed, inputs=[train_h5, validation_h5], model=name), thresholds)
    if out_losses_png is not None:
        fig = new_figure((5, 3.5))
        ax = fig.add_subplot()
        ax.plot(history["epoch"], history["loss"], label="training")
        ax.plot(history["epoch"], history["val_loss"], label="validation")
        ax.set(xlabel="epoch", ylabel="BCE loss (class-weighted)", yscale="log", title=f"classifier {name}")
        ax.legend()
        save_figure(fig, out_losses_png)
    return {"epochs": int(len(history)), "final_val_loss": float(history["val_loss"].iloc[-1]), "thresholds": thresholds}
