"""Training of the frame classifier: class-weighted BCE, checkpoint/resume, early stopping, thresholds chosen
on the validation split, one model file."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from twins.core.device import select_device
from twins.core.io import read_datasets
from twins.core.provenance import make_provenance, sha256_file
from twins.core.seeding import derive_seed, seed_everything
from twins.core.training import CheckpointedTraining
from twins.pulsar import CLASSES
from twins.pulsar.models.frame_classifier.classify import predict_probabilities
from twins.pulsar.models.frame_classifier.network import FrameClassifier, build_model, save_classifier
from twins.pulsar.models.frame_classifier.thresholds import decide_thresholds

log = logging.getLogger(__name__)
VALIDATION_BATCH = 512


def positive_weights(labels: np.ndarray, cap: float = 20.0) -> torch.Tensor:
    """pos_weight per class = negatives / positives (capped), for BCEWithLogits."""
    pos = labels.sum(axis=0).astype(float)
    neg = len(labels) - pos
    return torch.as_tensor(np.clip(neg / np.maximum(pos, 1.0), 1.0 / cap, cap), dtype=torch.float32)


def _load(path) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames (n, size, size) float32 and labels (n, 3) float32 of a preprocessed split."""
    d = read_datasets(path, ("frames", "labels"))
    return torch.as_tensor(d["frames"].astype(np.float32)), torch.as_tensor(d["labels"].astype(np.float32))


def _validation_loss(model: FrameClassifier, loss_fn: nn.Module, x_val, y_val, device) -> float:
    """Mean loss over the validation frames, in batches of VALIDATION_BATCH (0 frames: 0)."""
    model.eval()
    with torch.no_grad():
        return sum(
            float(
                loss_fn(
                    model(x_val[s : s + VALIDATION_BATCH, None].to(device)), y_val[s : s + VALIDATION_BATCH].to(device)
                )
            )
            * len(x_val[s : s + VALIDATION_BATCH])
            for s in range(0, len(x_val), VALIDATION_BATCH)
        ) / max(len(x_val), 1)


def epoch_function(
    model: FrameClassifier,
    optimiser: torch.optim.Optimizer,
    loss_fn: nn.Module,
    shuffle: torch.Generator,
    train: tuple[torch.Tensor, torch.Tensor],
    validation: tuple[torch.Tensor, torch.Tensor],
    settings: dict,
    device: torch.device,
) -> Callable[[int], dict]:
    """One epoch over the shuffled training frames, then the validation loss: {'loss', 'val_loss'}."""
    (x_train, y_train), (x_val, y_val) = train, validation
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
            xb, yb = xb.to(device), yb.to(device)
            optimiser.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(idx)
        return {"loss": total / len(order), "val_loss": _validation_loss(model, loss_fn, x_val, y_val, device)}

    return epoch


def _stepping(epoch: Callable[[int], dict], scheduler) -> Callable[[int], dict]:
    """`epoch` followed by one step of the learning-rate `scheduler`."""

    def run(e: int) -> dict:
        losses = epoch(e)
        scheduler.step()
        return losses

    return run


def train_classifier(
    train_h5: str | Path,
    validation_h5: str | Path,
    settings: dict,
    frames: dict,
    seed: int,
    device: str,
    checkpoint_path: str | Path,
    out_model: str | Path,
    out_history: str | Path,
    name: str = "model",
) -> dict:
    """Train on `train_h5`, monitor `validation_h5` (preprocessed splits); write the model file and the
    history CSV (epoch, loss, val_loss, seconds). `settings`: pulsar.train (resolved), `frames`: the frame
    geometry; `name`: the model's name in pulsar.models (seeds its streams). Returns a summary."""
    seed_everything(derive_seed(seed, "pulsar", "train", name))
    torch_device = select_device(device)
    x_train, y_train = _load(train_h5)
    x_val, y_val = _load(validation_h5)
    model = build_model(settings, int(frames.get("size", 128))).to(torch_device)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=settings["learning_rate"], weight_decay=settings.get("weight_decay", 0.0)
    )
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=positive_weights(y_train.numpy()).to(torch_device))
    shuffle = torch.Generator().manual_seed(derive_seed(seed, "pulsar", "shuffle", name))
    epoch = epoch_function(
        model, optimiser, loss_fn, shuffle, (x_train, y_train), (x_val, y_val), settings, torch_device
    )
    schedulers = {}
    if settings.get("lr_schedule", "constant") == "cosine":
        schedulers["cosine"] = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=settings["epochs"])
        epoch = _stepping(epoch, schedulers["cosine"])
    # neither the threshold rule nor, with a constant learning rate, the epoch budget changes what was trained: a
    # rerun after changing them resumes from the finished checkpoint instead of training again
    unshaping = ("pulse_threshold",) if schedulers else ("epochs", "pulse_threshold")
    fingerprint = {
        "settings": {k: v for k, v in settings.items() if k not in unshaping},
        "frames": frames,
        "seed": seed,
        "inputs": [sha256_file(train_h5), sha256_file(validation_h5)],
    }
    trainer = CheckpointedTraining(
        checkpoint_path,
        out_history,
        modules={"model": model},
        optimizers={"adamw": optimiser},
        schedulers=schedulers,
        generators={"shuffle": shuffle},
        fingerprint=fingerprint,
        early_stopping={"monitor": "val_loss", "patience": settings["patience"]},
    )
    history = trainer.run(settings["epochs"], epoch)
    model = model.cpu().eval()
    thresholds, choice = decide_thresholds(
        predict_probabilities(model, x_val),
        y_val.numpy(),
        read_datasets(validation_h5, ("snr",))["snr"],
        settings["pulse_threshold"],
    )
    log.info("%s: thresholds chosen on validation %s (pulse: %s)", name, dict(zip(CLASSES, thresholds)), choice)
    provenance = make_provenance("pulsar_train", settings, seed, inputs=[train_h5, validation_h5], model=name)
    save_classifier(out_model, model, settings, frames, provenance, thresholds, choice)
    return {
        "epochs": int(len(history)),
        "final_val_loss": float(history["val_loss"].iloc[-1]),
        "thresholds": thresholds,
        "threshold_choice": choice,
    }
