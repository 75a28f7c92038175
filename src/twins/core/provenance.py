"""Provenance records: what made an artefact (config slice, seed, code version, input hashes).

Records hold no wall-clock time on purpose: the same config and seed must give identical artefacts.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import twins


def sha256_file(path: str | Path, block_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(block_size), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def code_version() -> dict[str, str]:
    """Package version and git commit of the code that runs (TWINS_GIT_COMMIT overrides, e.g. in containers)."""
    commit = os.environ.get("TWINS_GIT_COMMIT")
    if commit is None:
        repo = Path(__file__).resolve().parents[3]
        try:
            commit = subprocess.run(
                ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            if dirty:
                commit += "-dirty"
        except (OSError, subprocess.CalledProcessError):
            commit = "unknown"
    return {"package": "twins", "version": twins.__version__, "git_commit": commit}


def make_provenance(
    step: str,
    config: Any,
    seed: int | None = None,
    inputs: Iterable[str | Path] = (),
    **extra: Any,
) -> dict[str, Any]:
    """The provenance record of one output: step name, config slice, seed, code version, input hashes."""
    return {
        "step": step,
        "config": config,
        "seed": seed,
        "code": code_version(),
        "inputs": {str(p): sha256_file(p) for p in inputs},
        **extra,
    }


def to_json(record: Any) -> str:
    """Canonical JSON (sorted keys) so equal records give equal bytes."""
    return json.dumps(record, sort_keys=True, indent=1, default=_json_default)


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "items"):  # Snakemake's Namedlist/Params behave as mappings
        return dict(value.items())
    raise TypeError(f"cannot record {type(value).__name__} in provenance")
