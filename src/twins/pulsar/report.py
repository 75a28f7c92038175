"""The pulsar twin's report: one metrics table over models (HTML page and CSV) through twins.core.report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from twins.core.report import table, write_csv, write_page
from twins.pulsar import CLASSES

TITLE = "Pulsar twin: frame classifier metrics"


def metrics_rows(metrics: dict[str, dict]) -> pd.DataFrame:
    """One row per model and test split, observation and throughput, from each model's validation metrics
    (pulsar_validate's metrics.json, by model name)."""
    rows = []
    for model, m in metrics.items():
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


def write_report_table(metrics: dict[str, dict], out_html: str | Path, out_csv: str | Path) -> None:
    """The metrics table (metrics_rows) as a page and as CSV, numbers to 4 significant digits."""
    frame = metrics_rows(metrics)
    write_csv(out_csv, frame, index=False, float_format="%.4g")
    write_page(out_html, TITLE, [table(frame, digits=4, index=False)])
