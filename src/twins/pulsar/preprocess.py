"""Preprocessing: per-channel robust normalisation, RFI channel flagging, class balancing, splits."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np
from scipy import ndimage, stats

from twins.core.io import atomic_path, read_datasets, set_provenance
from twins.core.provenance import make_provenance
from twins.core.seeding import derive_seed

log = logging.getLogger(__name__)

MAD_TO_SIGMA = 1.4826
CHANNEL_STATISTICS = {
    "mean": lambda x: x.mean(axis=0),
    "variance": lambda x: x.var(axis=0),
    "skewness": lambda x: stats.skew(x, axis=0),
    "kurtosis": lambda x: stats.kurtosis(x, axis=0),
}


def _lower_median(x: np.ndarray, axis: int) -> np.ndarray:
    """Median along `axis` (the lower one for even lengths): one partition, several times faster than
    np.median, which matters for real-time use."""
    k = (x.shape[axis] - 1) // 2
    return np.take(np.partition(x, k, axis=axis), k, axis=axis)


def normalise_frames(
    frames: np.ndarray, smooth_channels: int = 9, clip: float = 20.0, stat_stride: int = 2, threads: int = 1
) -> np.ndarray:
    """Per-channel robust normalisation of (n, time, freq) frames -> float32 in noise-sigma units.

    Each channel's offset and scale are the median and MAD-sigma over the frame's time axis (every
    `stat_stride`-th sample, for speed), smoothed across channels by a running median of
    `smooth_channels`: the bandpass is taken out while a single bright channel (narrow-band RFI) stays
    bright, which is what the classifier must see. With `threads` > 1 blocks of frames are normalised
    in that many threads (numpy's partition and arithmetic release the GIL); the result is the same.
    """
    if threads > 1 and len(frames) >= threads:
        with ThreadPoolExecutor(threads) as pool:
            blocks = pool.map(
                lambda block: normalise_frames(block, smooth_channels, clip, stat_stride),
                np.array_split(np.asarray(frames), threads),
            )
            return np.concatenate(list(blocks))
    x = np.asarray(frames, dtype=np.float32)
    rows = x[:, ::stat_stride, :]
    level = _lower_median(rows, axis=1)  # (n, freq)
    scale = MAD_TO_SIGMA * _lower_median(np.abs(rows - level[:, None, :]), axis=1)
    if smooth_channels > 1:
        level = ndimage.median_filter(level, size=(1, smooth_channels), mode="nearest")
        scale = ndimage.median_filter(scale, size=(1, smooth_channels), mode="nearest")
    scale = np.maximum(scale, 1e-3 + 1e-3 * np.abs(level))
    out = x - level[:, None, :]
    out /= scale[:, None, :]
    return np.clip(out, -clip, clip, out=out)


def robust_zscore(values: np.ndarray) -> np.ndarray:
    """Double-MAD z-score: deviations below/above the median scaled by the MAD of each side."""
    values = np.asarray(values, dtype=float)
    centre = np.median(values)
    low = np.median(np.abs(values[values <= centre] - centre))
    high = np.median(np.abs(values[values >= centre] - centre))
    mad = np.where(values < centre, low, high) * MAD_TO_SIGMA
    return (values - centre) / np.where(mad > 0, mad, np.inf)


def flag_channels(data: np.ndarray, statistics=("variance", "skewness", "kurtosis"), threshold: float = 3.0):
    """RFI channels of (nsamples, nchans) data: any channel statistic with |robust z| > threshold.

    Returns (flags (nchans,) bool, {statistic: values}). The mean is left out by default because the
    bandpass, not RFI, dominates its channel-to-channel spread.
    """
    x = np.asarray(data, dtype=np.float64)
    flags = np.zeros(x.shape[1], dtype=bool)
    values = {}
    for name in statistics:
        if name not in CHANNEL_STATISTICS:
            raise ValueError(f"unknown channel statistic '{name}'; use {sorted(CHANNEL_STATISTICS)}")
        values[name] = np.nan_to_num(CHANNEL_STATISTICS[name](x))
        flags |= np.abs(robust_zscore(values[name])) > threshold
    return flags, values


def precision_recall(flags: np.ndarray, truth: np.ndarray) -> dict:
    tp = int(np.sum(flags & truth))
    precision = tp / max(int(flags.sum()), 1)
    recall = tp / max(int(truth.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "flagged": int(flags.sum()), "true": int(truth.sum())}


def split_frames(groups: np.ndarray, fractions: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Seeded train/validation/test indices; frames of one group (scan) stay in one split when there
    are enough groups (no pulsar seen in training and test), else frames are split individually."""
    n = len(groups)
    unique = np.unique(groups)
    keys = unique if len(unique) >= 6 else np.arange(n)
    member = groups if len(unique) >= 6 else np.arange(n)
    order = rng.permutation(keys)
    total = sum(fractions.values())
    n_train = int(round(len(order) * fractions["train"] / total))
    n_val = max(1, int(round(len(order) * fractions["validation"] / total)))
    parts = {"train": order[:n_train], "validation": order[n_train : n_train + n_val], "test": order[n_train + n_val :]}
    return {name: np.flatnonzero(np.isin(member, keys_)) for name, keys_ in parts.items()}


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


def preprocess_dataset(frames_h5: str | Path, settings: dict, seed: int, name: str, out: dict) -> dict:
    """Normalise, split and balance one dataset; write out['train'|'validation'|'test'] HDF5 files."""
    data = read_datasets(frames_h5, ("frames", "labels", "snr", "frame_scan"))
    rng = np.random.default_rng(derive_seed(seed, "pulsar", "preprocess", name))
    normalised = normalise_frames(data["frames"], settings["smooth_channels"], settings["clip_sigma"])
    splits = split_frames(data["frame_scan"], settings["split"], rng)
    train = splits["train"]
    splits["train"] = train[balance_indices(data["labels"][train], rng, settings["max_oversample"])]
    summary = {}
    for split, rows in splits.items():
        with atomic_path(out[split]) as tmp, h5py.File(tmp, "w") as f:
            f.create_dataset(
                "frames", data=normalised[rows].astype(np.float16), chunks=(1, *normalised.shape[1:]), compression="lzf"
            )
            for key in ("labels", "snr", "frame_scan"):
                f[key] = data[key][rows]
            f["source_index"] = rows
            set_provenance(f, make_provenance("pulsar_preprocess", settings, seed, inputs=[frames_h5], split=split))
        summary[split] = {"frames": int(len(rows)), "class_counts": data["labels"][rows].sum(axis=0).tolist()}
    log.info("%s: %s", name, summary)
    return summary
