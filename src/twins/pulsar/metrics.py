"""Validation maths of the pulsar twin (no file I/O): pulse recall and accuracy against S/N, false-positive
rates and operating points, label-combination confusion, cross-domain scores, channel-flagging precision and
recall, throughput and real-time factor."""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy import stats

from twins.pulsar import CLASSES
from twins.pulsar.models.frame_classifier.classify import decide_labels, predict_probabilities
from twins.pulsar.models.frame_classifier.network import FrameClassifier
from twins.pulsar.normalisation import normalise_frames


def accuracy_vs_snr(snr: np.ndarray, pulse_true: np.ndarray, pulse_pred: np.ndarray, bins) -> list[dict]:
    """Per S/N bin of frames that hold pulse signal (S/N > 0): frames, pulse recall (share detected),
    and accuracy (share whose pulse decision matches the label)."""
    rows = []
    for lo, hi in zip(bins[:-1], bins[1:]):
        sel = (snr > max(lo, 0)) & (snr <= hi) if lo == 0 else (snr > lo) & (snr <= hi)
        n = int(sel.sum())
        rows.append(
            {
                "snr_min": lo,
                "snr_max": hi,
                "frames": n,
                "recall": float(pulse_pred[sel].mean()) if n else None,
                "accuracy": float((pulse_pred[sel] == pulse_true[sel]).mean()) if n else None,
            }
        )
    return rows


def drop_below(rows: list[dict], level: float = 0.9) -> float | None:
    """Lowest S/N bin edge from which recall stays >= `level` in every populated bin above."""
    edge = None
    for row in reversed(rows):
        if row["recall"] is None:
            continue
        if row["recall"] < level:
            break
        edge = row["snr_min"]
    return edge


def accuracy_interval(hits: int, frames: int, level: float = 0.95, method: str = "wilson") -> list[float] | None:
    """Binomial interval (Wilson score, or "exact": Clopper-Pearson) of an accuracy of hits/frames: whether a
    target such as 0.99 is met or only within reach of the test set's size (1100 frames leave about +-0.006 at
    0.99)."""
    if frames == 0:
        return None
    ci = stats.binomtest(hits, frames).proportion_ci(confidence_level=level, method=method)
    return [float(ci.low), float(ci.high)]


OPERATING_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def operating_points(
    p_pulse: np.ndarray, pulse_true: np.ndarray, snr: np.ndarray, thresholds=OPERATING_THRESHOLDS
) -> list[dict]:
    """The pulse decision at other probability thresholds (generate.threshold takes a number): accuracy at
    S/N >= 7 against the false-positive rates it costs, so a user picks the point their data budget allows."""
    high = snr >= 7
    return [
        {
            "threshold": t,
            "pulse_accuracy_snr_ge_7": float((p_pulse[high] >= t).mean()) if high.any() else None,
            **false_positive_rates((p_pulse >= t).astype(np.uint8), pulse_true, snr),
        }
        for t in thresholds
    ]


def false_positive_rates(pulse_pred: np.ndarray, pulse_true: np.ndarray, snr: np.ndarray) -> dict:
    """The price of the recall: the share of frames without a pulse label that are kept all the same, and
    that share among frames holding no pulse signal and among frames holding a real pulse below the
    labelling S/N (labelled none, yet a search that keeps them is not wrong). None where no such frames."""
    no_pulse = pulse_true == 0
    rate = lambda sel: float(pulse_pred[sel].mean()) if sel.any() else None  # noqa: E731
    return {
        "pulse_false_positive_rate": rate(no_pulse),
        "pulse_false_positive_rate_no_signal": rate(no_pulse & (snr <= 0)),
        "pulse_false_positive_rate_sub_threshold_pulse": rate(no_pulse & (snr > 0)),
    }


def confusion_by_combination(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Confusion matrix over the 8 label combinations (rows true, columns predicted)."""
    names = ["+".join(c for c, b in zip(CLASSES, bits) if b) or "none" for bits in np.ndindex(2, 2, 2)]
    code = lambda y: (y[:, 0] * 4 + y[:, 1] * 2 + y[:, 2]).astype(int)  # noqa: E731  order of np.ndindex
    matrix = np.zeros((8, 8), dtype=int)
    np.add.at(matrix, (code(y_true), code(y_pred)), 1)
    return names, matrix


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Exact-match rate and per-class accuracy, recall and precision of labels (n, 3) (None: no such frames)."""
    out = {"exact_match": float((y_true == y_pred).all(axis=1).mean()), "frames": int(len(y_true))}
    for i, c in enumerate(CLASSES):
        out[f"{c}_accuracy"] = float((y_true[:, i] == y_pred[:, i]).mean())
        out[f"{c}_recall"] = float(y_pred[y_true[:, i] == 1, i].mean()) if y_true[:, i].any() else None
        out[f"{c}_precision"] = float(y_true[y_pred[:, i] == 1, i].mean()) if y_pred[:, i].any() else None
    return out


def throughput(model: FrameClassifier, size: int, n_frames: int, batch_size: int, threads: int, seed: int) -> dict:
    """Frames/s of normalisation + classification on `threads` CPU threads (synthetic noise frames)."""
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    raw = rng.normal(96, 14, (n_frames, size, size)).astype(np.float32)
    predict_probabilities(model, normalise_frames(raw[:batch_size], threads=threads), batch_size)  # warm-up
    started = time.perf_counter()
    normalised = normalise_frames(raw, threads=threads)
    t_norm = time.perf_counter() - started
    predict_probabilities(model, normalised, batch_size)
    total = time.perf_counter() - started
    return {
        "frames": n_frames,
        "threads": threads,
        "frames_per_s": n_frames / total,
        "classify_only_frames_per_s": n_frames / (total - t_norm),
    }


def precision_recall(flags: np.ndarray, truth: np.ndarray) -> dict:
    """Channel flags (nchans,) bool against the flagging truth (nchans,) bool."""
    tp = int(np.sum(flags & truth))
    precision = tp / max(int(flags.sum()), 1)
    recall = tp / max(int(truth.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "flagged": int(flags.sum()), "true": int(truth.sum())}


def dataset_metrics(
    labels: np.ndarray, snr: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray, snr_bins, in_domain: bool
) -> dict:
    """Scores of one test split: labels (n, 3), injected S/N (n,), probabilities (n, 3), thresholds (3,)."""
    pred = decide_labels(probabilities, thresholds)
    rows = accuracy_vs_snr(snr, labels[:, 0], pred[:, 0], snr_bins)
    high = snr >= 7
    return {
        **scores(labels, pred),
        "accuracy_vs_snr": rows,
        "snr_recall_drops_below_90": drop_below(rows),
        "pulse_accuracy_snr_ge_7": float(pred[high, 0].mean()) if high.any() else None,
        "pulse_accuracy_snr_ge_7_ci95": accuracy_interval(int(pred[high, 0].sum()), int(high.sum())),
        "frames_snr_ge_7": int(high.sum()),
        "in_domain": in_domain,
        # which RFI costs the recall: frames at S/N >= 7 by the RFI they also hold
        "pulse_accuracy_snr_ge_7_by_frame_type": {
            kind: float(pred[high & sel, 0].mean()) if (high & sel).any() else None
            for kind, sel in (
                ("rfi_free", labels[:, 1:].sum(axis=1) == 0),
                ("nb_rfi", labels[:, 1] == 1),
                ("bb_rfi", labels[:, 2] == 1),
            )
        },
        **false_positive_rates(pred[:, 0], labels[:, 0], snr),
        "operating_points": operating_points(probabilities[:, 0], labels[:, 0], snr),
    }


def observation_metrics(summary: dict, channel_mask: np.ndarray | None) -> dict:
    """The data reduction of one whole observation (its generate summary) and, with the flagging truth
    `channel_mask` (nchans,) bool, the channel flagging's precision and recall against it."""
    entry = {k: summary[k] for k in ("frames", "frames_kept", "reduction_factor", "label_counts", "channels_flagged")}
    if channel_mask is not None:
        flags = np.zeros(channel_mask.size, dtype=bool)
        flags[summary["channel_flags"]] = True
        entry["flagging_vs_mask"] = precision_recall(flags, channel_mask)
    return entry


def real_time(speed: dict, geometry: dict, stream: dict) -> dict:
    """`speed` (throughput) with the real-time factors of a stream of stream['nchans'] channels every
    stream['tsamp_s'] seconds cut into frames of `geometry`."""
    frame_seconds = geometry["size"] * geometry["time_downsample"] * stream["tsamp_s"]
    frames_per_stream_second = (
        max(stream["nchans"] // (geometry["size"] * geometry["freq_downsample"]), 1) / frame_seconds
    )
    return {
        **speed,
        "stream": stream,
        "frames_per_stream_second": frames_per_stream_second,
        "real_time_factor": speed["frames_per_s"] / frames_per_stream_second,
        "classify_only_real_time_factor": speed["classify_only_frames_per_s"] / frames_per_stream_second,
    }
