"""Glue between the Snakefile and the library that has to run inside the Snakemake process."""

from __future__ import annotations

import os
from pathlib import Path


def export_library_path(src: str | Path) -> None:
    """Put this checkout's `src/` on PYTHONPATH so rule scripts import `twins` in any env that runs them
    (the local venv, the envs/ conda envs with --sdm conda, a SLURM job on another node)."""
    src = str(src)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if src not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([src, *paths])
