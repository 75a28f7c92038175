"""Glue between the Snakefile and the library: the output folders, the conda envs and the library path.

The rule files build every path through `results`, `logs` and `benchmarks`, and name envs through
`conda_env`, so the folder layout lives here only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
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


def per_attempt(base: int):
    """A resource (runtime in minutes, mem_mb) that grows with each try: try n asks for n × base, so a job
    SLURM killed for time or memory is resubmitted (profile `retries`) with more, not failed the same way."""

    def value(wildcards, attempt):
        return base * attempt

    value.base = base  # for tests and for readers of the rule
    return value


def export_library_path(src: str | Path) -> None:
    """Put this checkout's `src/` on PYTHONPATH so rule scripts import `twins` in any env that runs them
    (the local venv, the envs/ conda envs with --sdm conda, a SLURM job on another node)."""
    src = str(src)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if src not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([src, *paths])


_VARIABLE = re.compile(r"\$\{?([A-Za-z_]\w*)\}?")


def unset_resource_variables(resources: Iterable[tuple[str, str, object]], environ: Mapping[str, str] = os.environ):
    """(where, resource, variable) for each $VARIABLE in a resource value (raw text, as in the profile) that
    the environment lacks. Snakemake leaves such a value as the literal text '$NAME', which then reaches
    sbatch (a partition named '$TWINS_SLURM_PARTITION', or the plugin's 'Invalid GPU model format')."""
    return [
        (where, name, variable)
        for where, name, raw in resources
        if isinstance(raw, str)
        for variable in _VARIABLE.findall(raw)
        if variable not in environ
    ]


def unset_variables_message(unset: list[tuple[str, str, str]]) -> str:
    uses = {}
    for where, name, variable in unset:
        uses.setdefault(variable, []).append(f"{where}.{name}")
    listed = "; ".join(
        f"${variable} in {', '.join(places[:2])}{f' and {len(places) - 2} more' if len(places) > 2 else ''}"
        for variable, places in sorted(uses.items())
    )
    return (
        f"the profile's resources use unset environment variables: {listed}. Export each before "
        "running, e.g. `export TWINS_SLURM_PARTITION=gpu`; an empty value (`export TWINS_SLURM_GPU_MODEL=`) "
        "leaves its sbatch option out: the site's default partition, any GPU model, or the plugin's guess of "
        "the account (add `slurm-no-account: true` to the profile where the site has no accounts)"
    )
