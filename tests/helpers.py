"""Shared by the tests of every twin: running Snakemake on this repository in a scratch working directory."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"


def snakemake(
    workdir: Path | None, *args: str, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    """`snakemake` with the repository's Snakefile; `workdir` None runs in the repository itself."""
    command = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE)]
    if workdir is not None:
        command += ["--directory", str(workdir)]
    result = subprocess.run(
        command + list(args),
        cwd=workdir or REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=900,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def make_workdir(tmp_path: Path, overrides: dict) -> Path:
    """A working directory with the repo's config/ and resources/ linked and `overrides` as tiny.yaml."""
    for name in ("config", "resources"):
        (tmp_path / name).symlink_to(REPO / name)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(overrides))
    return tmp_path


def finished_workdir(tmp_path_factory, name: str, overrides: dict, *targets: str) -> Path:
    """A scratch working directory (make_workdir) in which the workflow has run with `overrides` (to `targets`,
    default: every enabled twin's outputs): the module-scoped fixture of each twin's workflow tests."""
    path = make_workdir(tmp_path_factory.mktemp(name), overrides)
    snakemake(path, "--cores", "2", "--configfile", "tiny.yaml", *targets)
    return path


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry-run."""
    table = dry_run_output.split("Job stats:")[-1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m[1] != "total"}


def planned_jobs_with(workdir: Path, config: dict, keys: tuple[str, ...], value, name: str) -> dict[str, int]:
    """Rule -> job count of a dry-run of `config` with the value at `keys` (a path into it) replaced,
    written to `workdir/name`: which rules a one-value change reruns."""
    changed = copy.deepcopy(config)
    node = changed
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    (workdir / name).write_text(yaml.safe_dump(changed))
    return planned_jobs(snakemake(workdir, "-n", "--configfile", name).stdout)
