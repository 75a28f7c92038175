"""Glue between the Snakefile and the library: the output folders, the conda envs and the library path.

The rule files build every path through `results`, `logs` and `benchmarks`, and name envs through
`conda_env`, so the folder layout lives here only.
"""

from __future__ import annotations

import os
from pathlib import Path

RESULTS = "results"
LOGS = "logs"
BENCHMARKS = "benchmarks"
# envs/<name>.yaml, as seen from workflow/rules/ (Snakemake resolves `conda:` against the rule file)
ENVS = ("calo-sim", "report", "torch")


def results(path: str) -> str:
    """A rule output under results/ (wildcards such as '{model}' pass through unchanged)."""
    return f"{RESULTS}/{path}"


def logs(path: str) -> str:
    """A rule's log file under logs/."""
    return f"{LOGS}/{path}"


def benchmarks(path: str) -> str:
    """A rule's Snakemake benchmark file under benchmarks/."""
    return f"{BENCHMARKS}/{path}"


def conda_env(name: str) -> str:
    """The `conda:` file of env `name` (one of ENVS), relative to workflow/rules/."""
    if name not in ENVS:
        raise ValueError(f"no conda env '{name}'; envs/ holds {list(ENVS)}")
    return f"../../envs/{name}.yaml"


def export_library_path(src: str | Path) -> None:
    """Put this checkout's `src/` on PYTHONPATH so rule scripts import `twins` in any env that runs them
    (the local venv, the envs/ conda envs with --sdm conda, a SLURM job on another node)."""
    src = str(src)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if src not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([src, *paths])
