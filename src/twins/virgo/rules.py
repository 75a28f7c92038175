"""What workflow/rules/virgo.smk needs from Python: target lists (no Snakemake imports)."""

from __future__ import annotations

import sys
from pathlib import Path

from twins.core.workflow import results


def qscan_targets(config: dict) -> list[str]:
    """The GW150914 Q-scan when the real file is here; without it a warning, and the rest runs."""
    path = config["virgo"]["report"]["gwosc_file"]
    if Path(path).exists():
        return [results("virgo/report/gw150914_qscan.json")]
    print(f"virgo: real GWOSC file {path} not found; the GW150914 Q-scan is left out", file=sys.stderr)
    return []


def targets(config: dict) -> list[str]:
    """The virgo twin's final outputs (rule virgo_all)."""
    return [results("virgo/report/summary.html"), *qscan_targets(config)]
