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


THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 4)


def choose_thresholds(probabilities: np.ndarray, labels: np.ndarray, grid=THRESHOLD_GRID) -> list[float]:
    """Per class, the probability threshold with the highest accuracy on validation frames (ties: the
    one closest to 0.5). Chosen on the validation split, never on the test split that reports accuracy."""
    out = []
    for c in range(labels.shape[1]):
        accuracy = np.array([((probabilities[:, c] >= t) == labels[:, c]).mean() for t in grid])
        best = np.flatnonzero(accuracy >= accuracy.max() - 1e-12)
        out.append(float(grid[best[np.argmin(np.abs(grid[best] - 0.5))]]))
    return out


def false_alarm_threshold(p_pulse: np.ndarray, snr: np.ndarray, max_rate: float, grid=THRESHOLD_GRID) -> dict:
    """The lowest pulse threshold whose false-alarm rate on validation frames with no pulse signal (S/N 0:
    noise and RFI only) stays within `max_rate`, as a search sets its S/N threshold by the false alarms it can
    afford. Unlike maximum accuracy this does not depend on the simulation's share of pulse frames (a third
    here, far more than in a real stream) nor on the frames near the labelling S/N, which are coin flips."""
    noise = np.asarray(snr) <= 0
    if not noise.any():
        raise ValueError(
            "pulsar.train.pulse_threshold: the validation split has no frame without pulse signal to "
            "measure false alarms on; use rule 'accuracy' or a dataset with noise/RFI-only frames"
        )
    if noise.sum() * max_rate < 1:
        log.warning(
            "only %d validation frames without pulse signal: a false-alarm rate of %.3g is below one frame, so "
            "the pulse threshold is the lowest that keeps none of them",
            noise.sum(),
            max_rate,
        )
    rates = np.array([(p_pulse[noise] >= t).mean() for t in grid])
    within = np.flatnonzero(rates <= max_rate)
    if not within.size:
        log.warning(
            "no pulse threshold up to %.2f keeps false alarms within %.3g (%.3g at best); using %.2f",
            grid[-1],
            max_rate,
            rates[-1],
            grid[-1],
        )
    index = int(within[0]) if within.size else len(grid) - 1
    return {
        "threshold": float(grid[index]),
        "validation_false_alarm_rate": float(rates[index]),
        "validation_frames_no_signal": int(noise.sum()),
    }


def decide_thresholds(
    probabilities: np.ndarray, labels: np.ndarray, snr: np.ndarray, rule: dict
) -> tuple[list[float], dict]:
    """Per-class thresholds on validation frames: maximum accuracy for the RFI classes; for the pulse class
    `rule['rule']` 'false_alarm' (false_alarm_threshold at `max_false_alarm_rate`) or 'accuracy'.
    Returns (thresholds, a record of the choice)."""
    thresholds = choose_thresholds(probabilities, labels)
    choice = {"rule": rule["rule"]}
    if rule["rule"] == "false_alarm":
        found = false_alarm_threshold(probabilities[:, 0], snr, rule["max_false_alarm_rate"])
        thresholds[0] = found.pop("threshold")
        choice.update(max_false_alarm_rate=rule["max_false_alarm_rate"], **found)
    elif rule["rule"] != "accuracy":
        raise ValueError(f"pulsar.train.pulse_threshold.rule must be 'false_alarm' or 'accuracy', not {rule['rule']!r}")
    return thresholds, choice


def _load(path):
    d = read_datasets(path, ("frames", "labels"))
    return torch.as_tensor(d["frames"].astype(np.float32)), torch.as_tensor(d["labels"].astype(np.float32))


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
    out_losses_png: str | Path | None = None,
    name: str = "model",
) -> dict:
    """Train on `train_h5`, monitor `validation_h5`; write the model, the history CSV and a loss plot."""
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
            val = sum(
                float(loss_fn(model(x_val[s : s + 512, None].to(torch_device)), y_val[s : s + 512].to(torch_device)))
                * len(x_val[s : s + 512])
                for s in range(0, len(x_val), 512)
            ) / max(len(x_val), 1)
        return {"loss": total / len(order), "val_loss": val}

    # neither the epoch budget nor the threshold rule changes what was trained: a rerun after changing them
    # resumes from the finished checkpoint instead of training again
    fingerprint = {
        "settings": {k: v for k, v in settings.items() if k not in ("epochs", "pulse_threshold")},
        "frames": frames,
        "seed": seed,
        "inputs": [sha256_file(train_h5), sha256_file(validation_h5)],
    }
    trainer = CheckpointedTraining(
        checkpoint_path,
        out_history,
        modules={"model": model},
        optimizers={"adamw": optimiser},
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
    save_model(
        out_model,
        model,
        settings,
        frames,
        make_provenance("pulsar_train", settings, seed, inputs=[train_h5, validation_h5], model=name),
        thresholds,
        choice,
    )
    if out_losses_png is not None:
        fig = new_figure((5, 3.5))
        ax = fig.add_subplot()
        ax.plot(history["epoch"], history["loss"], label="training")
        ax.plot(history["epoch"], history["val_loss"], label="validation")
        ax.set(xlabel="epoch", ylabel="BCE loss (class-weighted)", yscale="log", title=f"classifier {name}")
        ax.legend()
        save_figure(fig, out_losses_png)
    return {
        "epochs": int(len(history)),
        "final_val_loss": float(history["val_loss"].iloc[-1]),
        "thresholds": thresholds,
        "threshold_choice": choice,
    }
