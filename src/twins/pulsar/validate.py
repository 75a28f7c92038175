"""The validate step: pulse accuracy vs S/N, confusion matrix, cross-domain scores, flagging
precision/recall against masks, throughput and real-time factor."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from scipy import stats

from twins.core.io import read_datasets, read_json, write_json
from twins.core.plots import new_figure, save_figure
from twins.pulsar import CLASSES
from twins.pulsar.model import FrameClassifier, decision_thresholds, load_model, predict_probabilities
from twins.pulsar.preprocess import normalise_frames, precision_recall

log = logging.getLogger(__name__)


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


def accuracy_interval(hits: int, frames: int, level: float = 0.95) -> list[float] | None:
    """Wilson score interval of an accuracy of hits/frames: whether a target such as 0.99 is met or only
    within reach of the test set's size (1100 frames leave about +-0.006 at 0.99)."""
    if frames == 0:
        return None
    ci = stats.binomtest(hits, frames).proportion_ci(confidence_level=level, method="wilson")
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


def validate_model(
    model_path: str | Path,
    tests: dict[str, str],
    generate_summaries: dict[str, str],
    masks: dict[str, str | None],
    settings: dict,
    seed: int,
    out_metrics: str | Path,
    out_snr_png: str | Path,
    out_confusion_png: str | Path,
    model_name: str,
    trained_on: str,
    threshold: float | str,
    batch_size: int,
) -> dict:
    model, record = load_model(model_path)
    thresholds = decision_thresholds(record, threshold)
    torch.set_num_threads(2)
    geometry = record["frames"]
    per_dataset, curves = {}, {}
    confusion = None
    for name, path in tests.items():
        d = read_datasets(path, ("frames", "labels", "snr"))
        probabilities = predict_probabilities(model, d["frames"], batch_size)
        pred = (probabilities >= thresholds).astype(np.uint8)
        rows = accuracy_vs_snr(d["snr"], d["labels"][:, 0], pred[:, 0], settings["snr_bins"])
        high = d["snr"] >= 7
        per_dataset[name] = {
            **scores(d["labels"], pred),
            "accuracy_vs_snr": rows,
            "snr_recall_drops_below_90": drop_below(rows),
            "pulse_accuracy_snr_ge_7": float(pred[high, 0].mean()) if high.any() else None,
            "pulse_accuracy_snr_ge_7_ci95": accuracy_interval(int(pred[high, 0].sum()), int(high.sum())),
            "frames_snr_ge_7": int(high.sum()),
            "in_domain": name == trained_on,
            # which RFI costs the recall: frames at S/N >= 7 by the RFI they also hold
            "pulse_accuracy_snr_ge_7_by_frame_type": {
                kind: float(pred[high & sel, 0].mean()) if (high & sel).any() else None
                for kind, sel in (
                    ("rfi_free", d["labels"][:, 1:].sum(axis=1) == 0),
                    ("nb_rfi", d["labels"][:, 1] == 1),
                    ("bb_rfi", d["labels"][:, 2] == 1),
                )
            },
            **false_positive_rates(pred[:, 0], d["labels"][:, 0], d["snr"]),
            "operating_points": operating_points(probabilities[:, 0], d["labels"][:, 0], d["snr"]),
        }
        curves[name] = rows
        if name == trained_on:
            confusion = confusion_by_combination(d["labels"], pred)
    flagging = {}
    for obs, path in generate_summaries.items():
        summary = read_json(path)
        entry = {
            k: summary[k] for k in ("frames", "frames_kept", "reduction_factor", "label_counts", "channels_flagged")
        }
        if masks.get(obs):
            with h5py.File(masks[obs], "r") as f:
                truth = f["chan_mask"][...].astype(bool)
            flags = np.zeros(truth.size, dtype=bool)
            flags[summary["channel_flags"]] = True
            entry["flagging_vs_mask"] = precision_recall(flags, truth)
        flagging[obs] = entry
    speed = throughput(model, int(geometry["size"]), settings["throughput_frames"], batch_size, 2, seed)
    stream = settings["stream"]
    frame_seconds = geometry["size"] * geometry["time_downsample"] * stream["tsamp_s"]
    frames_per_stream_second = (
        max(stream["nchans"] // (geometry["size"] * geometry["freq_downsample"]), 1) / frame_seconds
    )
    speed.update(
        stream=stream,
        frames_per_stream_second=frames_per_stream_second,
        real_time_factor=speed["frames_per_s"] / frames_per_stream_second,
        classify_only_real_time_factor=speed["classify_only_frames_per_s"] / frames_per_stream_second,
    )
    metrics = {
        "model": model_name,
        "trained_on": trained_on,
        "geometry": geometry,
        "thresholds": thresholds.tolist(),
        "threshold_choice": record.get("threshold_choice", {}) if threshold == "validation" else {"rule": "fixed"},
        "datasets": per_dataset,
        "observations": flagging,
        "throughput": speed,
    }
    if confusion is not None:
        metrics["confusion"] = {"labels": confusion[0], "matrix": confusion[1].tolist()}
    write_json(out_metrics, metrics)
    _plot_curves(curves, trained_on, model_name, out_snr_png, per_dataset.get(trained_on), float(thresholds[0]))
    _plot_confusion(confusion, model_name, out_confusion_png)
    return metrics


def _plot_curves(
    curves: dict, trained_on: str, model_name: str, path, home: dict | None = None, threshold: float | None = None
) -> None:
    fig = new_figure((11, 4))
    ax = fig.add_subplot(1, 2, 1)
    for name, rows in curves.items():
        x = [0.5 * (r["snr_min"] + min(r["snr_max"], 2 * r["snr_min"] + 1)) for r in rows if r["recall"] is not None]
        y = [r["recall"] for r in rows if r["recall"] is not None]
        ax.plot(x, y, "o-", label=f"{name}{' (training source)' if name == trained_on else ''}")
    ax.axhline(0.99, color="0.5", ls=":", lw=1)
    ax.axhline(0.9, color="0.5", ls="--", lw=1)
    ax.axvline(7, color="0.7", lw=1)
    ax.set(
        xscale="log",
        xlabel="injected frame S/N (dedispersed, best boxcar)",
        ylabel="pulse recall",
        ylim=(0, 1.02),
        title=f"model {model_name}",
    )
    ax.legend()
    ax = fig.add_subplot(1, 2, 2)
    if home is not None and home["frames_snr_ge_7"]:
        points = [p for p in home["operating_points"] if p["pulse_false_positive_rate_no_signal"] is not None]
        for key, label in (
            ("pulse_false_positive_rate_no_signal", "frames with no pulse signal"),
            ("pulse_false_positive_rate", "all frames labelled none"),
        ):
            ax.plot([p[key] for p in points], [p["pulse_accuracy_snr_ge_7"] for p in points], "o-", label=label)
        for p in points:
            ax.annotate(
                f"{p['threshold']:g}",
                (p["pulse_false_positive_rate_no_signal"], p["pulse_accuracy_snr_ge_7"]),
                fontsize=6,
                xytext=(3, -8),
                textcoords="offset points",
            )
        ax.plot(
            home["pulse_false_positive_rate_no_signal"],
            home["pulse_accuracy_snr_ge_7"],
            "k*",
            ms=10,
            label=f"in use (threshold {threshold:g})",
        )
        ax.axhline(0.99, color="0.5", ls=":", lw=1)
        ax.set_xscale("symlog", linthresh=1e-3)  # a rate of 0 stays on the plot
        ax.set_xlim(left=0)
        ax.set(
            xlabel="pulse false-positive rate",
            ylabel="pulse accuracy, S/N >= 7",
            title=f"operating points on {trained_on} (labels: threshold)",
        )
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "training source has no test frames at S/N >= 7", ha="center")
    save_figure(fig, path)


def _plot_confusion(confusion, model_name: str, path) -> None:
    fig = new_figure((6.5, 5.5))
    ax = fig.add_subplot()
    if confusion is None:
        ax.text(0.5, 0.5, "training source has no test split", ha="center")
    else:
        names, matrix = confusion
        norm = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        for i in range(8):
            for j in range(8):
                if matrix[i, j]:
                    ax.text(
                        j,
                        i,
                        str(matrix[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black",
                    )
        ax.set_xticks(range(8), names, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(8), names, fontsize=7)
        ax.set(xlabel="predicted", ylabel="true", title=f"model {model_name}: label combinations (test)")
        fig.subplots_adjust(left=0.25, bottom=0.28)  # room for the long combination names
    save_figure(fig, path)
