"""The pulsar twin's report: the frame classifiers' metrics table over models (HTML page and CSV) and the stream
search's tables (recall on injected pulses per background, reduction and false alarms per observation), through
twins.core.report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from twins.core.report import table, write_csv, write_page
from twins.pulsar import CLASSES

TITLE = "Pulsar twin: frame classifiers and stream search"


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


def _recall(entry: dict | None) -> str | None:
    if not entry or entry["recall"] is None:
        return None
    return f"{entry['recall']:.3f} ({entry['found']}/{entry['injected']}; {_interval(entry['interval'])})"


def search_rows(search: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per background: recall at S/N >= 7 of the search and of search + classifier, false alarms on the
    background alone; per observation: candidates, accepted, reduction, real-time factor, false alarms in the
    unseen range, simulated pulses found)."""
    backgrounds = []
    for name, m in search["backgrounds"].items():
        recall, alarms = m.get("recall", {}), m["false_alarms"]
        backgrounds.append(
            {
                "background": name,
                "injections": m["injections"],
                "max DM injected": m["dm_max_injected"],
                "recall S/N>=7, search": _recall(recall.get("search")),
                "recall S/N>=7, search + classifier": _recall(recall.get("chain")),
                "background alone: candidates / accepted": f"{alarms['background_candidates']} / "
                f"{alarms['background_accepted']}",
                "spurious accepted (injected data)": alarms["injected_realisations_spurious_accepted"],
                "side lobes accepted / all": f"{alarms['side_lobes_accepted']} / {alarms['side_lobes']}",
                "data searched (s)": m["data_seconds"],
            }
        )
    observations = []
    for name, m in search["observations"].items():
        alarms = m.get("false_alarms_unseen_range")
        found = m.get("pulses_found", {}).get("chain")
        observations.append(
            {
                "observation": name,
                "DM searched to": m["dm_max_searched"],
                "candidates": m["candidates"],
                "accepted": m["accepted"],
                "reduction factor": m["reduction_factor"],
                "real-time factor": m["real_time_factor"],
                "unseen range: candidates / accepted": None
                if alarms is None
                else f"{alarms['candidates']} / {alarms['accepted']}",
                "pulses S/N>=7 found": _recall(found),
            }
        )
    return pd.DataFrame(backgrounds), pd.DataFrame(observations)


def write_report_table(
    metrics: dict[str, dict], out_html: str | Path, out_csv: str | Path, search: dict | None = None
) -> None:
    """The metrics table (metrics_rows) as a page and as CSV, numbers to 4 significant digits; with `search`
    (pulsar_validate_search's metrics) the stream search's two tables below it on the page."""
    frame = metrics_rows(metrics)
    write_csv(out_csv, frame, index=False, float_format="%.4g")
    sections = ["<h2>Frame classifiers</h2>", table(frame, digits=4, index=False)]
    if search is not None:
        backgrounds, observations = search_rows(search)
        sections += [
            f"<h2>Stream search + candidate classifier (threshold P &ge; {search['threshold']:.4g})</h2>",
            "<p>Pulses injected into the test ranges of each background; S/N in the background's measured noise.</p>",
            table(backgrounds, digits=4, index=False),
            "<h2>Observations searched</h2>",
            table(observations, digits=4, index=False),
        ]
    write_page(out_html, TITLE, sections)
