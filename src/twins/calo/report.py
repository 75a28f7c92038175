"""The calorimeter metrics table of the report: one row per metric, one column per model, and the quality goals."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from twins.core.report import escape, table, write_csv, write_page

# The calo twin's quality goals: the best CaloChallenge low-level classifier AUC for photons (CaloINN, 0.626) is the
# anchor; at demo scale the goal is AUC <= 0.75 for CaloINN, and a high-level FPD within 5x of the floor.
CHALLENGE_ANCHOR_AUC = 0.626
GOAL_LOW_LEVEL_AUC = 0.75
GOAL_FPD_OVER_FLOOR = 5.0

TITLE = "Calorimeter twin: generated vs simulated showers"
EXPLANATION = (
    "Separation power and Jensen-Shannon divergence: 0 = identical distributions, 1 = disjoint. "
    "Classifier AUC (CaloChallenge network, low-level voxels and high-level features): 0.5 = indistinguishable. "
    "FPD/KPD: Frechet and kernel physics distances on the high-level features (JetNet). "
    "Keys ending in _floor compare the simulation with an independent simulated sample: the statistical "
    "floor a perfect generator would reach. Speed ratio: generator / simulator showers per second."
)


def metrics_frame(metrics: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Headline metrics (the `summary` of each model's metrics.json, floors included), per-energy-bin and
    per-feature scores; metrics: model -> its metrics record; models as columns."""
    columns = {}
    for model, record in metrics.items():
        rows = {("summary", k): v for k, v in record["summary"].items()}
        for part in record.get("per_energy_bin", []):
            label = f"E {part['energy_min_gev']:.0f}-{part['energy_max_gev']:.0f} GeV"
            for key, value in part.items():
                if not key.startswith("energy_") and value is not None:
                    rows[(label, key)] = value
        for feature, scores in record.get("features", {}).items():
            for score, value in scores.items():
                if isinstance(value, (int, float)):
                    rows[(feature, score)] = value
        columns[model] = pd.Series(rows)
    frame = pd.DataFrame(columns)
    frame.index.names = ["feature", "metric"]
    return frame


def quality_goals(metrics: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per model: low-level classifier AUC and FPD against the goals, with the floor and the anchor."""
    rows = []
    for model, record in metrics.items():
        summary = record["summary"]
        auc, fpd, floor = (summary.get(k) for k in ("classifier_auc_low_level", "fpd", "fpd_floor"))
        fpd_limit = GOAL_FPD_OVER_FLOOR * max(floor, 0.0) if floor is not None else None
        rows.append(
            {
                "model": model,
                "AUC low-level": auc,
                "AUC goal": GOAL_LOW_LEVEL_AUC,
                "AUC floor (sim vs sim)": summary.get("classifier_auc_low_level_floor"),
                "AUC met": None if auc is None else bool(auc <= GOAL_LOW_LEVEL_AUC),
                "FPD": fpd,
                "FPD goal (5x floor)": fpd_limit,
                "FPD met": None if fpd is None or fpd_limit is None else bool(fpd <= fpd_limit),
            }
        )
    return pd.DataFrame(rows).set_index("model")


def write_metrics_table(
    metrics: Mapping[str, Mapping[str, Any]], out_html: str | Path, out_csv: str | Path
) -> pd.DataFrame:
    """The report's page (quality goals, then every metric) and the same metrics as CSV; returns the table."""
    frame = metrics_frame(metrics)
    write_csv(out_csv, frame)
    goals_text = (
        f"Anchor: the best CaloChallenge low-level classifier AUC for photons is {CHALLENGE_ANCHOR_AUC} "
        f"(CaloINN, full-size data and GPU training). Goals at demo scale: low-level AUC at most "
        f"{GOAL_LOW_LEVEL_AUC} for CaloINN (3DGAN reported), high-level FPD within {GOAL_FPD_OVER_FLOOR:g}x "
        "of the simulation-vs-simulation floor."
    )
    sections = [
        f"<p>{escape(EXPLANATION)}</p>",
        f"<h3>Quality goals</h3><p>{escape(goals_text)}</p>{table(quality_goals(metrics))}",
        f"<h3>All metrics</h3>{table(frame)}",
    ]
    write_page(out_html, TITLE, sections)
    return frame
