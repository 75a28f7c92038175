"""The report step: one metrics table (HTML + CSV) over models, and example frames per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from twins.core.io import atomic_path, read_datasets, read_json
from twins.core.plots import new_figure, save_figure
from twins.pulsar import CLASSES

COMBINATIONS = ["none", "pulse", "nb_rfi", "bb_rfi", "pulse+nb_rfi", "pulse+bb_rfi", "nb_rfi+bb_rfi"]


def metrics_rows(metrics_paths: dict[str, str]) -> pd.DataFrame:
    rows = []
    for model, path in metrics_paths.items():
        m = read_json(path)
        for dataset, d in m["datasets"].items():
            rows.append(
                {
                    "model": model,
                    "trained_on": m["trained_on"],
                    "tested_on": dataset,
                    "pulse threshold": m["thresholds"][0],
                    "chosen by": m.get("threshold_choice", {}).get("rule"),
                    "pulse accuracy (S/N>=7)": d["pulse_accuracy_snr_ge_7"],
                    "95% interval": _interval(d.get("pulse_accuracy_snr_ge_7_ci95")),
                    "frames S/N>=7": d["frames_snr_ge_7"],
                    "pulse false-positive rate": d.get("pulse_false_positive_rate"),
                    "of it: no pulse signal": d.get("pulse_false_positive_rate_no_signal"),
                    "of it: pulse below labelling S/N": d.get("pulse_false_positive_rate_sub_threshold_pulse"),
                    "recall >= 90% from S/N": d["snr_recall_drops_below_90"],
                    "exact match": d["exact_match"],
                    **{f"{c} accuracy": d[f"{c}_accuracy"] for c in CLASSES},
                }
            )
        for obs, o in m["observations"].items():
            flag = o.get("flagging_vs_mask") or {}
            rows.append(
                {
                    "model": model,
                    "trained_on": m["trained_on"],
                    "tested_on": f"observation {obs}",
                    "frames kept": o["frames_kept"],
                    "frames": o["frames"],
                    "reduction factor": o["reduction_factor"],
                    "channels flagged": o["channels_flagged"],
                    "flagging F1 vs mask": flag.get("f1"),
                    "flagging precision": flag.get("precision"),
                    "flagging recall": flag.get("recall"),
                }
            )
        t = m["throughput"]
        rows.append(
            {
                "model": model,
                "tested_on": "throughput (2 threads)",
                "frames/s": t["frames_per_s"],
                "real-time factor": t["real_time_factor"],
            }
        )
    return pd.DataFrame(rows)


def _interval(ci: list[float] | None) -> str | None:
    return None if ci is None else f"{ci[0]:.3f}-{ci[1]:.3f}"


def write_report_table(metrics_paths: dict[str, str], out_html: str | Path, out_csv: str | Path) -> None:
    table = metrics_rows(metrics_paths)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4g")
    with atomic_path(out_html) as tmp:
        tmp.write_text(table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep=""))


def plot_example_frames(frames_h5: str | Path, out_png: str | Path, seed: int = 0) -> None:
    """One normalised test frame per label combination present (time across, frequency down)."""
    d = read_datasets(frames_h5, ("frames", "labels", "snr"))
    names = np.array(["+".join(c for c, b in zip(CLASSES, row) if b) or "none" for row in d["labels"]])
    rng = np.random.default_rng(seed)
    present = [c for c in COMBINATIONS + ["pulse+nb_rfi+bb_rfi"] if (names == c).any()]
    fig = new_figure((2.4 * max(len(present), 1), 2.8))
    for i, combo in enumerate(present):
        idx = np.flatnonzero(names == combo)
        if "pulse" in combo:  # show a clear example
            idx = idx[np.argsort(d["snr"][idx])[-max(1, len(idx) // 4) :]]
        j = int(rng.choice(idx))
        ax = fig.add_subplot(1, len(present), i + 1)
        ax.imshow(d["frames"][j].astype(np.float32).T, aspect="auto", vmin=-3, vmax=6, cmap="viridis")
        ax.set(title=f"{combo}" + (f"\nS/N {d['snr'][j]:.1f}" if d["snr"][j] > 0 else ""), xticks=[], yticks=[])
        if i == 0:
            ax.set(xlabel="time", ylabel="frequency (high at top)")
    save_figure(fig, out_png)
