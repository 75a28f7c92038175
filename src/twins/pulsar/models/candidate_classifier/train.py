"""Training of the candidate classifier: class-weighted BCE, time-shift augmentation, checkpoint/resume, early
stopping on the validation loss, the P(pulse) threshold chosen on validation, one model file.

Training sets are HDF5 files with datasets (n candidates)
    ft    (n, n_freq, n_time) float16/32   frequency-time images (twins.pulsar.candidates.candidate_images)
    dmt   (n, n_dm, n_time)   float16/32   DM-time images, same time axis
    label (n,) uint8                       1 = astrophysical (injected) pulse, 0 = RFI or noise
    snr   (n,) float                       the search's S/N of the candidate
    injected_snr (n,) float, optional      the injected S/N of pulses (NaN for negatives): the recall target is
                                           about pulses of injected S/N >= min_recall_snr (else of S/N >= it)
and optionally an attribute `images` (JSON): the pulsar.candidates.images settings that made them, kept in the
model file so that a user makes images the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from twins.core.config import resolve
from twins.core.device import select_device
from twins.core.io import InputFileError, open_hdf5, read_datasets
from twins.core.provenance import make_provenance, sha256_file
from twins.core.seeding import derive_seed, seed_everything
from twins.core.training import CheckpointedTraining
from twins.pulsar.models.candidate_classifier.classify import logits, predict_probabilities
from twins.pulsar.models.candidate_classifier.network import WRITER, build_model, save_classifier
from twins.pulsar.models.candidate_classifier.thresholds import choose_threshold

log = logging.getLogger(__name__)

# keys that change the threshold choice or the epoch budget, not what is trained: a rerun resumes
NOT_FINGERPRINTED = ("epochs", "max_false_alarm_rate", "min_recall_snr", "min_recall", "priority")
REQUIRED = ("ft", "dmt", "label", "snr")


def read_training_set(path: str | Path) -> dict:
    """{ft, dmt (float32 tensors), label (float32 tensor), snr, recall_snr (numpy), recall_snr_source, images}
    of a training-set HDF5 file (layout in the module docstring); InputFileError naming the file and the
    dataset when one is missing or the shapes disagree."""
    d = read_datasets(path, REQUIRED)
    with open_hdf5(path) as f:
        injected = f["injected_snr"][...] if "injected_snr" in f else None
        recorded = json.loads(f.attrs["images"]) if "images" in f.attrs else {}
    n = len(d["label"])
    shapes = {name: d[name].shape for name in REQUIRED}
    if (
        d["ft"].ndim != 3
        or d["dmt"].ndim != 3
        or d["ft"].shape[2] != d["dmt"].shape[2]
        or any(shape[0] != n for shape in shapes.values())
        or (injected is not None and injected.shape != (n,))
    ):
        raise InputFileError(
            f"{path}: datasets ft (n, n_freq, n_time), dmt (n, n_dm, n_time), label/snr/injected_snr (n,) disagree: "
            f"{shapes}{'' if injected is None else f', injected_snr {injected.shape}'}; rewrite the training set"
        )
    if not np.isin(d["label"], (0, 1)).all():
        raise InputFileError(f"{path}: dataset 'label' must hold 0 (RFI/noise) or 1 (pulse) only")
    images = {"n_freq": int(d["ft"].shape[1]), "n_time": int(d["ft"].shape[2]), "n_dm": int(d["dmt"].shape[1])}
    return {
        "ft": torch.as_tensor(d["ft"].astype(np.float32)),
        "dmt": torch.as_tensor(d["dmt"].astype(np.float32)),
        "label": torch.as_tensor(d["label"].astype(np.float32)),
        "snr": torch.as_tensor(d["snr"].astype(np.float32)),
        "recall_snr": np.asarray(injected if injected is not None else d["snr"], dtype=float),
        "recall_snr_source": "injected_snr" if injected is not None else "snr",
        "images": {**images, "settings": recorded} if recorded else images,
    }


def read_training_sets(paths) -> dict:
    """read_training_set of one file or of several (one per background) joined in their order; the image sizes
    must agree (InputFileError naming the file that differs)."""
    if isinstance(paths, (str, Path)):
        return read_training_set(paths)
    parts = [read_training_set(path) for path in paths]
    if not parts:
        raise InputFileError("candidate classifier: no training-set files; pulsar.candidates.backgrounds is empty")
    for path, part in zip(paths, parts):
        if _sizes(part["images"]) != _sizes(parts[0]["images"]):
            raise InputFileError(
                f"{path}: images {part['images']} differ from those of {paths[0]}; rerun pulsar_inject for both"
            )
    joined = {k: torch.cat([p[k] for p in parts]) for k in ("ft", "dmt", "label", "snr")}
    joined["recall_snr"] = np.concatenate([p["recall_snr"] for p in parts])
    sources = {p["recall_snr_source"] for p in parts}
    joined["recall_snr_source"] = sources.pop() if len(sources) == 1 else "mixed"
    joined["images"] = parts[0]["images"]
    return joined


def _sizes(images: dict) -> tuple[int, int, int]:
    return images["n_freq"], images["n_time"], images["n_dm"]


def positive_weight(labels: torch.Tensor, cap: float = 20.0) -> torch.Tensor:
    """pos_weight = negatives / positives (clipped to [1/cap, cap]) for BCEWithLogits: both classes weigh alike."""
    positives = float(labels.sum())
    return torch.tensor(float(np.clip((len(labels) - positives) / max(positives, 1.0), 1.0 / cap, cap)))


def shift_time(images: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Each image (batch, rows, n_time) rolled along time by its shift (batch,) pixels: the search places a
    candidate a pixel or two off the pulse, and the images should not depend on it (a frequency flip would
    reverse the dispersion sweep: not physical, not done)."""
    n_time = images.shape[2]
    index = (torch.arange(n_time)[None, :] - shifts[:, None]) % n_time
    return torch.gather(images, 2, index[:, None, :].expand(-1, images.shape[1], -1))


def _loss(model, loss_fn, data: dict, device) -> float:
    """Mean validation loss (eval mode, no augmentation)."""
    if not len(data["label"]):
        return 0.0
    z = torch.as_tensor(logits(model, data["ft"], data["dmt"], data["snr"], device=device))
    return float(loss_fn(z.to(device), data["label"].to(device)))


def epoch_function(
    model, optimiser, loss_fn, shuffle: torch.Generator, train: dict, validation: dict, settings, device
) -> Callable[[int], dict]:
    """One epoch over the shuffled training candidates, then the validation loss: {'loss', 'val_loss'}."""
    batch, reach = int(settings["batch_size"]), int(settings.get("augment_shift_pixels", 0))

    def epoch(_: int) -> dict:
        model.train()
        order = torch.randperm(len(train["label"]), generator=shuffle)
        total = 0.0
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            ft, dmt = train["ft"][idx], train["dmt"][idx]
            if reach > 0:
                shifts = torch.randint(-reach, reach + 1, (len(idx),), generator=shuffle)
                ft, dmt = shift_time(ft, shifts), shift_time(dmt, shifts)
            optimiser.zero_grad()
            loss = loss_fn(
                model(ft.to(device), dmt.to(device), train["snr"][idx].to(device)), train["label"][idx].to(device)
            )
            loss.backward()
            optimiser.step()
            total += loss.item() * len(idx)
        return {"loss": total / max(len(order), 1), "val_loss": _loss(model, loss_fn, validation, device)}

    return epoch


def train_classifier(
    train_h5: str | Path | list,
    validation_h5: str | Path | list,
    settings: dict,
    seed: int,
    device: str,
    checkpoint_path: str | Path,
    out_model: str | Path,
    out_history: str | Path,
    name: str = "candidates",
) -> dict:
    """Train on `train_h5`, early-stop on `validation_h5` (layout in the module docstring); write the model file
    and the history CSV (epoch, loss, val_loss, seconds). settings: pulsar.candidates.train (missing keys take
    the schema defaults); name: the model's name (seeds its streams). Returns a summary."""
    settings = resolve("pulsar.candidates.train", settings)
    seed_everything(derive_seed(seed, "pulsar", "candidates", "train", name))
    torch_device = select_device(device)
    train, validation = read_training_sets(train_h5), read_training_sets(validation_h5)
    if _sizes(train["images"]) != _sizes(validation["images"]):
        raise InputFileError(
            f"{validation_h5}: images {validation['images']} differ from those of {train_h5} {train['images']}; "
            "make both splits with the same pulsar.candidates.images"
        )
    model = build_model(settings, train["images"]).to(torch_device)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=settings["learning_rate"], weight_decay=settings["weight_decay"]
    )
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=positive_weight(train["label"]).to(torch_device))
    shuffle = torch.Generator().manual_seed(derive_seed(seed, "pulsar", "candidates", "shuffle", name))
    fingerprint = {
        "settings": {k: v for k, v in settings.items() if k not in NOT_FINGERPRINTED},
        "seed": seed,
        "inputs": [sha256_file(path) for path in _paths(train_h5) + _paths(validation_h5)],
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
    epoch = epoch_function(model, optimiser, loss_fn, shuffle, train, validation, settings, torch_device)
    history = trainer.run(settings["epochs"], epoch)
    model = model.cpu().eval()
    inputs = _paths(train_h5) + _paths(validation_h5)
    return _finish(model, settings, seed, name, inputs, validation, history, out_model)


def _paths(paths) -> list:
    return [paths] if isinstance(paths, (str, Path)) else list(paths)


def _finish(model, settings: dict, seed: int, name: str, inputs, validation: dict, history, out_model) -> dict:
    """Choose the threshold on validation, write the model file, return the summary."""
    p = predict_probabilities(model, validation["ft"], validation["dmt"], validation["snr"])
    threshold, choice, found = choose_threshold(p, validation["label"].numpy(), validation["recall_snr"], settings)
    choice["recall_snr_source"] = validation["recall_snr_source"]
    log.info("%s: P(pulse) threshold %.6g chosen on validation (%s): %s", name, threshold, choice["rule"], found)
    meta = {
        "settings": settings,
        "images": validation["images"],
        "provenance": make_provenance(WRITER, settings, seed, inputs=list(inputs), model=name),
        "threshold": threshold,
        "threshold_choice": choice,
        "validation": found,
    }
    save_classifier(out_model, model, meta)
    return {
        "epochs": int(len(history)),
        "final_val_loss": float(history["val_loss"].iloc[-1]),
        "threshold": threshold,
        "threshold_choice": choice,
        "validation": found,
    }
