"""The calorimeter metrics table of the report: one row per metric, one column per model."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from twins.core.io import atomic_path, read_json

# The calo twin's quality goals: the best CaloChallenge low-level classifier AUC for photons (CaloINN, 0.626) is the
# anchor; at demo scale the goal is AUC <= 0.75 for CaloINN, and a high-level FPD within 5x of the floor.
CHALLENGE_ANCHOR_AUC = 0.626
GOAL_LOW_LEVEL_AUC = 0.75
GOAL_FPD_OVER_FLOOR = 5.0


def metrics_frame(metrics_paths: dict[str, str | Path]) -> pd.DataFrame:
    """Headline metrics (the `summary` of each metrics.json, floors included), per-energy-bin and per-feature
    scores, models as columns."""
    columns = {}
    for model, path in metrics_paths.items():
        metrics = read_json(path)
        rows = {("summary", k): v for k, v in metrics["summary"].items()}
        for part in metrics.get("per_energy_bin", []):
            label = f"E {part['energy_min_gev']:.0f}-{part['energy_max_gev']:.0f} GeV"
            for key, value in part.items():
                if not key.startswith("energy_") and value is not None:
                    rows[(label, key)] = value
        for feature, scores in metrics.get("features", {}).items():
            for score, value in scores.items():
                if isinstance(value, (int, float)):
                    rows[(feature, score)] = value
        columns[model] = pd.Series(rows)
    frame = pd.DataFrame(columns)
    frame.index.names = ["feature", "metric"]
    return frame


def quality_goals(metrics_paths: dict[str, str | Path]) -> pd.DataFrame:
    """One row per model: low-level classifier AUC and FPD against the goals, with the floor and the anchor."""
    rows = []
    for model, path in metrics_paths.items():
        summary = read_json(path)["summary"]
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


def write_metrics_table(metrics_paths: dict[str, str | Path], out_html: str | Path, out_csv: str | Path) -> None:
    frame = metrics_frame(metrics_paths)
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, float_format="%.6g")
    html = frame.to_html(float_format=lambda v: f"{v:.4g}", border=0, classes="metrics")
    goals = quality_goals(metrics_paths).to_html(float_format=lambda v: f"{v:.4g}", border=0, classes="metrics")
    page = (
        "<html><head><meta charset='utf-8'><title>Calorimeter metrics</title>"
        "<style>table.metrics{border-collapse:collapse;font-family:sans-serif;font-size:13px}"
        "table.metrics td,table.metrics th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}</style>"
        "</head><body><h2>Calorimeter twin: generated vs simulated showers</h2>"
        "<p>Separation power and Jensen-Shannon divergence: 0 = identical distributions, 1 = disjoint. "
        "Classifier AUC (CaloChallenge network, low-level voxels and high-level features): 0.5 = indistinguishable. "
        "FPD/KPD: Frechet and kernel physics distances on the high-level features (JetNet). "
        "Keys ending in _floor compare the simulation with an independent simulated sample: the statistical "
        "floor a perfect generator would reach. Speed ratio: generator / simulator showers per second.</p>"
        "<h3>Quality goals</h3>"
        f"<p>Anchor: the best CaloChallenge low-level classifier AUC for photons is {CHALLENGE_ANCHOR_AUC} "
        f"(CaloINN, full-size data and GPU training). Goals at demo scale: low-level AUC at most "
        f"{GOAL_LOW_LEVEL_AUC} for CaloINN (3DGAN reported), high-level FPD within {GOAL_FPD_OVER_FLOOR:g}x "
        "of the simulation-vs-simulation floor.</p>"
        f"{goals}<h3>All metrics</h3>{html}</body></html>\n"
    )
    with atomic_path(out_html) as tmp:
        tmp.write_text(page)
