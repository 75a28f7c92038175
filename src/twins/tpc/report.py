"""The TPC twin's report: the chi^2 table of every variant side by side with the simulation floor and the speeds,
as CSV and as an HTML page (twins.core.report)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from twins.core.report import table, write_csv, write_page
from twins.tpc.metrics import CONDITIONS, MOMENTS

TITLE = "TPC twin: generated vs simulated pad-row responses"
EXPLANATION = (
    "<p>chi2/ndf between the generated and simulated profiles (mean and width of each response moment in "
    "quantile bins of each condition); the simulation floor compares two independent simulated samples. "
    "Summary rows: chi2/ndf pooled over the Fast4 conditions and over all six; speed ratio = generator / "
    "detailed simulator segments per second on this machine.</p>"
)


def chi2_frame(metrics: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Rows: (condition, moment) chi^2/ndf per profile, then the summary rows; columns: the variants in the order
    given, then "simulation floor". metrics: variant -> its tpc_validate metrics record."""
    columns, floor = {}, {}
    for variant, record in metrics.items():
        rows = {}
        for c in CONDITIONS:
            for m in MOMENTS:
                entry = record["profiles"][c][m]
                rows[(c, m)] = entry["chi2"] / max(entry["ndf"], 1)
                floor[(c, m)] = entry["chi2_floor"] / max(entry["ndf_floor"], 1)
        for key, value in record["summary"].items():
            if key.endswith("_floor"):
                floor[("summary", key[: -len("_floor")])] = value
            else:
                rows[("summary", key)] = value
        columns[variant] = pd.Series(rows)
    columns["simulation floor"] = pd.Series(floor)
    frame = pd.DataFrame(columns)
    frame.index.names = ["condition", "quantity"]
    return frame


def write_report(frame: pd.DataFrame, out_html: str | Path, out_csv: str | Path) -> None:
    """The chi^2 table as CSV (6 significant digits) and as the twin's HTML page (4 digits)."""
    write_csv(out_csv, frame, float_format="%.6g")
    write_page(out_html, TITLE, [EXPLANATION, table(frame, digits=4)])
