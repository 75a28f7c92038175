"""The pulsar twin's figures: training losses, pulse recall against S/N with the operating points, the
label-combination confusion matrix, and example frames per class (all through twins.core.plots)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from twins.core.plots import HistoryPanel, new_figure, plot_history, save_figure
from twins.pulsar import CLASSES

# the label combinations in the order the example-frame figure shows them
COMBINATIONS = [
    "none",
    "pulse",
    "nb_rfi",
    "bb_rfi",
    "pulse+nb_rfi",
    "pulse+bb_rfi",
    "nb_rfi+bb_rfi",
    "pulse+nb_rfi+bb_rfi",
]


def plot_training_losses(history: pd.DataFrame | str | Path, out_png: str | Path, model_name: str) -> Path:
    """Training and validation loss (class-weighted BCE) against the epoch, log scale."""
    panel = HistoryPanel(("loss", "val_loss"), ylabel="BCE loss (class-weighted)", log=True)
    return plot_history(history, out_png, [panel], title=f"classifier {model_name}")


def plot_recall_vs_snr(
    curves: dict, trained_on: str, model_name: str, path, home: dict | None = None, threshold: float | None = None
) -> None:
    """Left: pulse recall against injected S/N per test split (`curves`: split -> accuracy_vs_snr rows).
    Right: the operating points of the training source's split (`home`: its dataset_metrics) with the
    threshold in use marked."""
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


def plot_confusion(confusion, model_name: str, path) -> None:
    """The 8 x 8 label-combination confusion matrix (confusion_by_combination's (names, counts); None: a note
    that the training source has no test split), rows normalised, counts written in."""
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


def plot_example_frames(frames: np.ndarray, labels: np.ndarray, snr: np.ndarray, out_png: str | Path, seed: int = 0):
    """One normalised frame (frames (n, time, freq), labels (n, 3), snr (n,)) per label combination present
    (time across, frequency down); a pulse frame is drawn among the brightest quarter."""
    names = np.array(["+".join(c for c, b in zip(CLASSES, row) if b) or "none" for row in labels])
    rng = np.random.default_rng(seed)
    present = [c for c in COMBINATIONS if (names == c).any()]
    fig = new_figure((2.4 * max(len(present), 1), 2.8))
    for i, combo in enumerate(present):
        idx = np.flatnonzero(names == combo)
        if "pulse" in combo:  # show a clear example
            idx = idx[np.argsort(snr[idx])[-max(1, len(idx) // 4) :]]
        j = int(rng.choice(idx))
        ax = fig.add_subplot(1, len(present), i + 1)
        ax.imshow(frames[j].astype(np.float32).T, aspect="auto", vmin=-3, vmax=6, cmap="viridis")
        ax.set(title=f"{combo}" + (f"\nS/N {snr[j]:.1f}" if snr[j] > 0 else ""), xticks=[], yticks=[])
        if i == 0:
            ax.set(xlabel="time", ylabel="frequency (high at top)")
    save_figure(fig, out_png)


def _bin_centres(rows: list[dict]) -> tuple[list, list, list]:
    kept = [r for r in rows if r["injected"]]
    x = [0.5 * (r["snr_min"] + r["snr_max"]) for r in kept]
    y = [r["recall"] for r in kept]
    err = [[r["recall"] - r["low"] for r in kept], [r["high"] - r["recall"] for r in kept]]
    return x, y, err


def plot_search_recall(per_background: dict, path) -> None:
    """Recall against injected S/N on each background's test split, for the search alone (dashed) and the
    search + candidate classifier (solid), with 95% intervals; per_background: name -> injection_metrics."""
    fig = new_figure((7, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for i, (name, metrics) in enumerate(per_background.items()):
        if "recall_by_snr" not in metrics:
            continue
        for stage, style in (("search", "--"), ("chain", "-")):
            x, y, err = _bin_centres(metrics["recall_by_snr"][stage])
            label = f"{name}: {'search' if stage == 'search' else 'search + classifier'}"
            ax.errorbar(x, y, yerr=err, fmt="o" + style, color=f"C{i}", label=label, capsize=2, ms=4)
    ax.axhline(0.99, color="0.5", ls=":", lw=1)
    ax.axvline(7, color="0.7", lw=1)
    ax.set(
        xlabel="S/N on the stream at the true DM and width (background's measured noise)",
        ylabel="recall (95% interval)",
        ylim=(0, 1.05),
        title="pulses injected into the test ranges",
    )
    ax.legend(fontsize=7)
    save_figure(fig, path)


def plot_search_candidates(observations: dict, path) -> None:
    """DM against time of every search candidate of each observation (name -> candidate table with p_pulse and
    accepted), marker size by S/N; accepted candidates filled red, rejected open grey."""
    names = list(observations) or ["(no observation)"]
    fig = new_figure((6.5, 2.8 * len(names)))
    for i, name in enumerate(names):
        ax = fig.add_subplot(len(names), 1, i + 1)
        table = observations.get(name)
        if table is None or not len(table):
            ax.text(0.5, 0.5, f"{name}: no candidate above the search threshold", ha="center", transform=ax.transAxes)
            ax.set(xlabel="time (s)", ylabel="DM (pc cm$^{-3}$)")
            continue
        size = 6 * np.clip(table["snr"].to_numpy(), 5, 40)
        accepted = table["accepted"].to_numpy(dtype=bool)
        ax.scatter(table["time_s"][~accepted], table["dm"][~accepted], s=size[~accepted], facecolors="none",
                   edgecolors="0.5", label=f"rejected ({int((~accepted).sum())})")  # fmt: skip
        ax.scatter(table["time_s"][accepted], table["dm"][accepted], s=size[accepted], color="C3", alpha=0.7,
                   label=f"accepted ({int(accepted.sum())})")  # fmt: skip
        ax.set(xlabel="time (s)", ylabel="DM (pc cm$^{-3}$)", title=f"{name}: search candidates (size: S/N)")
        ax.legend(fontsize=7)
    save_figure(fig, path)


def plot_candidate_images(examples: list[dict], path) -> None:
    """Frequency-time and DM-time images of the best candidates (examples: {title, ft, dmt}); rows: candidates."""
    n = max(len(examples), 1)
    fig = new_figure((6, 2.4 * n))
    for i, example in enumerate(examples):
        for j, key in enumerate(("ft", "dmt")):
            ax = fig.add_subplot(n, 2, 2 * i + j + 1)
            ax.imshow(example[key], aspect="auto", origin="upper" if key == "ft" else "lower", cmap="viridis")
            ax.set(xticks=[], yticks=[], ylabel="frequency (high at top)" if key == "ft" else "DM (centre: candidate)")
            ax.set_title(f"{example['title']} ({'freq-time' if key == 'ft' else 'DM-time'})", fontsize=7)
    if not examples:
        fig.add_subplot(1, 1, 1).text(0.5, 0.5, "no candidates", ha="center")
    save_figure(fig, path)
