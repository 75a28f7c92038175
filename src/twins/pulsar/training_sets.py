"""How a dataset's frames become training, validation and test sets: whole scans per part, and the training
frames resampled towards equal label combinations."""

from __future__ import annotations

import numpy as np

from twins.core.splits import split_indices

PARTS = ("train", "validation", "test")
MIN_SCANS_TO_GROUP = 6  # fewer scans: frames are split one by one (a 2-scan dataset has no third part)


def split_frames(frame_scan: np.ndarray, fractions: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Seeded train/validation/test frame indices (sorted), drawn with `rng`.

    Frames of one scan stay in one part when there are at least MIN_SCANS_TO_GROUP scans (no pulsar seen in
    training and test), else frames are split one by one. `fractions` ({train, validation, test}) are
    normalised by their sum; train and validation take their rounded shares, validation at least one
    scan or frame, and test the rest.
    """
    n_scans = len(np.unique(frame_scan))
    grouped = n_scans >= MIN_SCANS_TO_GROUP
    units = n_scans if grouped else len(frame_scan)
    total = sum(fractions[part] for part in PARTS)
    shares = {part: fractions[part] / total for part in PARTS}  # in cut order: train, validation, test
    if units and int(round(shares["validation"] * units)) == 0:  # at least one unit, taken from the test part
        shares["validation"] = 1 / units
        shares["test"] = 1 - shares["train"] - shares["validation"]
        if int(round(shares["train"] * units)) + 1 >= units:
            raise ValueError(
                f"{units} {'scans' if grouped else 'frames'} are too few for the split {fractions}: "
                "part(s) ['test'] would be empty"
            )
    return split_indices(
        len(frame_scan), shares, rng, remainder="test", groups=frame_scan if grouped else None, what="frames"
    )


def balance_indices(labels: np.ndarray, rng: np.random.Generator, max_oversample: float) -> np.ndarray:
    """Resample so every label combination present approaches the most frequent one's count, each
    rare combination oversampled at most `max_oversample` times (with replacement)."""
    codes = labels.astype(int) @ (1 << np.arange(labels.shape[1]))
    present, counts = np.unique(codes, return_counts=True)
    chosen = []
    for code, count in zip(present, counts):
        members = np.flatnonzero(codes == code)
        target = int(min(counts.max(), count * max_oversample))
        extra = rng.choice(members, target - count, replace=True) if target > count else np.array([], dtype=int)
        chosen.append(np.concatenate([members, extra]))
    return rng.permutation(np.concatenate(chosen))


def training_parts(
    frame_scan: np.ndarray, labels: np.ndarray, settings: dict, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Frame indices of each part (split_frames with settings['split']), the training part balanced
    (balance_indices at settings['max_oversample']) and so in a random order with repeats."""
    parts = split_frames(frame_scan, settings["split"], rng)
    train = parts["train"]
    parts["train"] = train[balance_indices(labels[train], rng, settings["max_oversample"])]
    return parts
