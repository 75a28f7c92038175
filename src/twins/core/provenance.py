"""Provenance records: what made an artefact (config slice, seed, code version, input hashes).

Records hold no wall-clock time on purpose: the same config and seed must give identical artefacts.
"""

from __future__ import annotations

import ast
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


def _module_file(module: str) -> Path | None:
    base = Path(__file__).resolve().parents[2].joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def library_modules(modules: Iterable[str]) -> dict[str, Path]:
    """`modules` and every twins module they import, directly or not (read from the source, not imported)."""
    found: dict[str, Path] = {}
    pending = list(modules)
    while pending:
        module = pending.pop()
        path = _module_file(module)
        if module in found or path is None:
            continue
        found[module] = path
        pending += _twins_imports(ast.parse(path.read_text(), str(path)))
    return found


def _twins_imports(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names if a.name.startswith("twins.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("twins"):
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return names


def step_code_hash(module: str, function: str) -> str:
    """SHA-256 over the source of step `function` of `module` and of every twins module it uses (its own
    imports and its module's top-level ones), not the module's other steps: a rule passes it as a param so
    it reruns, and misses the between-workflow cache, when its code changes."""
    path = _module_file(module)
    source = path.read_text()
    tree = ast.parse(source, str(path))
    node = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function),
        None,
    )
    if node is None:
        raise ValueError(f"{module} has no function {function}")
    top_level = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    used = _twins_imports(node) + _twins_imports(ast.Module(body=top_level, type_ignores=[]))
    digest = hashlib.sha256(ast.get_source_segment(source, node).encode())
    digest.update(library_code_hash(used).encode())
    return digest.hexdigest()


def library_code_hash(modules: Iterable[str]) -> str:
    """SHA-256 over the source of `modules` and the twins modules they import: a rule that passes it as a
    param reruns, and misses the between-workflow cache, when that code changes (and only then)."""
    digest = hashlib.sha256()
    for module, path in sorted(library_modules(modules).items()):
        digest.update(module.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
