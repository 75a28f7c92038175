"""tpc_report: the chi^2 table of every variant side by side, a comparison figure and the speeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from twins.core.io import atomic_path, read_json
from twins.core.plots import REFERENCE_COLOUR, new_figure, save_figure
from twins.tpc.moments import CONDITIONS, MOMENTS


def chi2_frame(metrics_paths: dict[str, str | Path]) -> pd.DataFrame:
    """Rows: (condition, moment) chi^2/ndf per profile, then the summary rows; columns: variants, floor."""
    columns, floor = {}, {}
    for variant, path in metrics_paths.items():
        metrics = read_json(path)
        rows = {}
        for c in CONDITIONS:
            for m in MOMENTS:
                entry = metrics["profiles"][c][m]
                rows[(c, m)] = entry["chi2"] / max(entry["ndf"], 1)
                floor[(c, m)] = entry["chi2_floor"] / max(entry["ndf_floor"], 1)
        for key, value in metrics["summary"].items():
            if key.endswith("_floor"):
                floor[("summary", key[: -len("_floor")])] = value
            else:
                rows[("summary", key)] = value
        columns[variant] = pd.Series(rows)
    columns["simulation floor"] = pd.Series(floor)
    frame = pd.DataFrame(columns)
    frame.index.names = ["condition", "quantity"]
    return frame


def plot_comparison(frame: pd.DataFrame, out_png: str | Path) -> None:
    """chi^2/ndf per condition (all moments pooled as the mean of their chi^2/ndf) for every variant and
    the floor, on a log axis."""
    names = list(frame.columns)
    fig = new_figure(figsize=(9.0, 4.0))
    ax = fig.subplots()
    x = np.arange(len(CONDITIONS))
    width = 0.8 / len(names)
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    for k, name in enumerate(names):
        values = [frame.loc[c, name].loc[list(MOMENTS)].mean() for c in CONDITIONS]
        colour = REFERENCE_COLOUR if name == "simulation floor" else colours[k % len(colours)]
        ax.bar(x + (k - (len(names) - 1) / 2) * width, values, width, label=name, color=colour)
    ax.set_xticks(x, CONDITIONS)
    ax.set_yscale("log")
    ax.set_ylabel("mean chi2/ndf of the moment profiles")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, out_png)


def write_report(
    metrics_paths: dict[str, str | Path], out_html: str | Path, out_csv: str | Path, out_png: str | Path
) -> pd.DataFrame:
    frame = chi2_frame(metrics_paths)
    with atomic_path(out_csv) as tmp:
        frame.to_csv(tmp, float_format="%.6g")
    plot_comparison(frame, out_png)
    html = frame.to_html(float_format=lambda v: f"{v:.4g}", border=0, classes="metrics", na_rep="")
    page = (
        "<html><head><meta charset='utf-8'><title>TPC FastSim metrics</title>"
        "<style>table.metrics{border-collapse:collapse;font-family:sans-serif;font-size:13px}"
        "table.metrics td,table.metrics th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}</style>"
        "</head><body><h2>TPC twin: generated vs simulated pad-row responses</h2>"
        "<p>chi2/ndf between the generated and simulated profiles (mean and width of each response moment in "
        "quantile bins of each condition); the simulation floor compares two independent simulated samples. "
        "Summary rows: chi2/ndf pooled over the Fast4 conditions and over all six; speed ratio = generator / "
        "detailed simulator segments per second on this machine.</p>"
        f"{html}</body></html>\n"
    )
    with atomic_path(out_html) as tmp:
        tmp.write_text(page)
    return frame
