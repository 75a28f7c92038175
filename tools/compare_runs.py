"""Run the workflow at two git revisions and compare what they produced, file by file.

    python tools/compare_runs.py run DIR [--revision REV] [--configfile FILE] [--cores N] [--twins calo ...]
    python tools/compare_runs.py diff BEFORE_DIR AFTER_DIR [--json OUT]

`run --revision REV` checks REV out as a detached git worktree in DIR and runs Snakemake there with this
checkout's venv (the worktree's own src/ comes first on PYTHONPATH, so its code runs); without
--revision it runs this checkout's workflow, uncommitted changes included, with DIR as the working
directory (config/ and resources/ linked into it). Keep both DIRs beside each other so that relative
paths to real data (../shared/data) reach the same files. `diff` walks DIR/results of both runs and
compares the data, never the provenance (which holds the commit and input hashes):

- HDF5: every dataset and every attribute except `provenance`, bit for bit;
- ROOT: every TTree's branches, bit for bit; NPZ: every array; filterbank and other binaries: the bytes;
- JSON: every numeric leaf, except timings (keys naming seconds, rates, throughput, latency, speed), which
  differ between any two runs; CSV: the numeric columns, timing columns left out likewise.

Prints one row per file (identical / differs, with the largest difference) and, for JSON metrics that
differ, each changed figure before -> after. Exit status 1 when any data file differs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# Values that measure the machine, not the physics.
TIMING_KEY = re.compile(
    r"second|seconds|_s$|^s$|/s\b|rate|per_s|throughput|latency|speed|time|duration|wall|elapsed|real.time|^cost_", re.I
)
SKIP_FILES = re.compile(r"\.(png|pdf|svg|html|log|tsv)$|checkpoint\.pt$")


def run(revision: str | None, workdir: Path, configfiles: list[str], cores: int, twins: list[str] | None) -> None:
    """Run the workflow of `revision` (a git worktree in `workdir`) or of this checkout (in `workdir`)."""
    workdir = workdir.resolve()
    command = [str(REPO / ".venv" / "bin" / "snakemake"), "--cores", str(cores), "--rerun-incomplete"]
    if revision is not None:
        if not workdir.exists():
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(workdir), revision], check=True)
        source = workdir
    else:
        workdir.mkdir(parents=True, exist_ok=True)
        for name in ("config", "resources"):
            if not (workdir / name).exists():
                (workdir / name).symlink_to(REPO / name)
        source = REPO
        command += ["-s", str(REPO / "workflow" / "Snakefile"), "--directory", str(workdir)]
    for configfile in configfiles:
        command += ["--configfile", str(Path(configfile).resolve())]
    if twins:
        command += ["--config", f"twins={json.dumps(twins)}"]
    env = {**os.environ, "PYTHONPATH": str(source / "src")}
    subprocess.run(command, cwd=workdir, env=env, check=True)


def _hdf5_items(path: Path) -> dict[str, np.ndarray]:
    import h5py

    items: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:

        def visit(name, obj):
            for key, value in obj.attrs.items():
                if key != "provenance":
                    items[f"{name}@{key}"] = np.asarray(value)
            if isinstance(obj, h5py.Dataset):
                items[name] = obj[()]

        visit("/", f)
        f.visititems(visit)
    return items


def _root_items(path: Path) -> dict[str, np.ndarray]:
    import uproot

    items: dict[str, np.ndarray] = {}
    with uproot.open(path) as f:
        for key, classname in f.classnames().items():
            if classname == "TTree":
                for branch, array in f[key].arrays(library="np").items():
                    items[f"{key}/{branch}"] = np.asarray(array.tolist() if array.dtype == object else array)
    return items


def _npz_items(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _numeric_leaves(record, prefix: str = "") -> dict[str, float]:
    leaves: dict[str, float] = {}
    if isinstance(record, dict):
        for key, value in record.items():
            if key == "provenance" or TIMING_KEY.search(str(key)):
                continue
            leaves.update(_numeric_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(record, list):
        for i, value in enumerate(record):
            leaves.update(_numeric_leaves(value, f"{prefix}[{i}]"))
    elif isinstance(record, bool) or record is None:
        leaves[prefix] = record
    elif isinstance(record, (int, float)):
        leaves[prefix] = float(record)
    return leaves


def _csv_items(path: Path) -> dict[str, np.ndarray]:
    import pandas as pd

    frame = pd.read_csv(path)
    keep = [c for c in frame.columns if not TIMING_KEY.search(str(c))]
    # rows labelled as timings (e.g. a 'speed_ratio' row of a metrics table) go too
    labels = frame.select_dtypes(include=["object", "string"])
    timing_rows = labels.apply(lambda row: any(TIMING_KEY.search(str(v)) for v in row), axis=1).to_numpy(bool)
    return {c: frame.loc[~timing_rows, c].to_numpy() for c in keep}


def _array_difference(a: np.ndarray, b: np.ndarray) -> float | None:
    """None when equal bit for bit; else the largest absolute difference (inf for another shape/type)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return math.inf
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        if np.array_equal(a, b, equal_nan=True):
            return None
        with np.errstate(invalid="ignore"):
            return float(np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64))))
    if a.dtype == object or b.dtype == object:  # text columns: NaN marks an empty cell in both
        same = [x == y or (x != x and y != y) for x, y in zip(a.ravel().tolist(), b.ravel().tolist())]
        return None if all(same) else math.inf
    return None if np.array_equal(a, b) else math.inf


def compare_items(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> dict[str, float]:
    """{item: largest difference} of the items that differ (missing on one side: inf)."""
    diffs = {}
    for key in sorted(set(before) | set(after)):
        if key not in before or key not in after:
            diffs[key] = math.inf
            continue
        d = _array_difference(before[key], after[key])
        if d is not None:
            diffs[key] = d
    return diffs


def compare_json(before_path: Path, after_path: Path) -> dict[str, tuple]:
    """{leaf: (before, after)} of the numeric JSON leaves that differ."""
    before = _numeric_leaves(json.loads(before_path.read_text()))
    after = _numeric_leaves(json.loads(after_path.read_text()))
    changed = {}
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key, "absent"), after.get(key, "absent")
        if a != b and not (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)):
            changed[key] = (a, b)
    return changed


READERS = {".h5": _hdf5_items, ".hdf5": _hdf5_items, ".root": _root_items, ".npz": _npz_items, ".csv": _csv_items}


def diff(before_dir: Path, after_dir: Path) -> dict:
    """Compare results/ of two runs; returns {path: {status, detail}}."""
    before_root, after_root = before_dir / "results", after_dir / "results"
    paths = sorted(
        {p.relative_to(before_root) for p in before_root.rglob("*") if p.is_file()}
        | {p.relative_to(after_root) for p in after_root.rglob("*") if p.is_file()}
    )
    report = {}
    for rel in paths:
        if SKIP_FILES.search(str(rel)) or any(part.startswith(".") for part in rel.parts):
            continue
        a, b = before_root / rel, after_root / rel
        if not a.exists() or not b.exists():
            report[str(rel)] = {"status": "only before" if a.exists() else "only after", "detail": {}}
            continue
        suffix = rel.suffix.lower()
        if suffix == ".json":
            detail = compare_json(a, b)
        elif suffix in READERS:
            detail = compare_items(READERS[suffix](a), READERS[suffix](b))
        elif suffix == ".pt":
            detail = _compare_torch(a, b)
        else:
            detail = {} if a.read_bytes() == b.read_bytes() else {"bytes": math.inf}
        report[str(rel)] = {"status": "differs" if detail else "identical", "detail": detail}
    return report


def _compare_torch(a: Path, b: Path) -> dict[str, float]:
    """Tensors of two model files compared as multisets of (shape, bytes): the file layout may differ between
    revisions (a renamed or regrouped state dict), the trained numbers must not."""
    import hashlib

    import torch

    def tensors(record) -> list[tuple]:
        if isinstance(record, dict):
            return [t for value in record.values() for t in tensors(value)]
        if isinstance(record, (list, tuple)):
            return [t for value in record for t in tensors(value)]
        if isinstance(record, torch.Tensor):
            array = record.detach().cpu().contiguous().numpy()
            return [(tuple(array.shape), str(array.dtype), hashlib.sha256(array.tobytes()).hexdigest())]
        return []

    # Files of both revisions were written by this workflow; older formats need the full unpickler.
    before = sorted(tensors(torch.load(a, map_location="cpu", weights_only=False)))
    after = sorted(tensors(torch.load(b, map_location="cpu", weights_only=False)))
    if before == after:
        return {}
    unmatched = len(set(before) ^ set(after))
    return {f"{unmatched} tensor(s) of {max(len(before), len(after))} without an equal partner": math.inf}


def print_report(report: dict) -> None:
    width = max((len(p) for p in report), default=10)
    for path, entry in report.items():
        detail = entry["detail"]
        if entry["status"] != "differs":
            print(f"{path:<{width}}  {entry['status']}")
            continue
        if path.endswith(".json"):
            print(f"{path:<{width}}  differs in {len(detail)} figure(s)")
            for key, (a, b) in list(detail.items())[:40]:
                print(f"    {key}: {a} -> {b}")
        else:
            worst = max(detail.values())
            print(f"{path:<{width}}  differs in {len(detail)} item(s), largest difference {worst:.3g}")
            for key in list(detail)[:5]:
                print(f"    {key}: {detail[key]:.3g}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run the workflow at a revision in a git worktree")
    p_run.add_argument("workdir", type=Path)
    p_run.add_argument("--revision", help="a git revision (default: this checkout as it is)")
    p_run.add_argument("--configfile", action="append", default=[])
    p_run.add_argument("--cores", type=int, default=2)
    p_run.add_argument("--twins", nargs="+")
    p_diff = sub.add_parser("diff", help="compare results/ of two runs")
    p_diff.add_argument("before", type=Path)
    p_diff.add_argument("after", type=Path)
    p_diff.add_argument("--json", type=Path, help="also write the comparison as JSON")
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args.revision, args.workdir, args.configfile, args.cores, args.twins)
        return 0
    report = diff(args.before, args.after)
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")
    return int(any(entry["status"] != "identical" for entry in report.values()))


if __name__ == "__main__":
    sys.exit(main())
