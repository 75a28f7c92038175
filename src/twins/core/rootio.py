"""ROOT files of the workflow's simulators (uproot): one TTree per file plus JSON metadata strings.

A `RootLayout` names the tree, its branches with their types, the JSON metadata keys (TObjString) and the
rule that writes such files; the same three functions then write, describe and stream every layout, with
errors that name the file, what is missing and the rule to rerun.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import uproot

from twins.core.io import InputFileError, atomic_path
from twins.core.provenance import to_json

PROVENANCE_KEY = "provenance"


@dataclass(frozen=True)
class RootLayout:
    """tree: the TTree's name; branches: branch -> numpy type code ('f8', 'i4', 'f4'; an array branch takes
    the shape of the arrays written); metadata: the JSON TObjString keys besides the provenance; title: the
    tree's title; writer: the rule that writes such files (named in errors)."""

    tree: str
    branches: Mapping[str, str]
    metadata: Sequence[str]
    title: str
    writer: str


def write_tree(
    path: str | Path,
    layout: RootLayout,
    arrays: Mapping[str, np.ndarray],
    metadata: Mapping[str, Any],
    provenance: Mapping[str, Any],
) -> None:
    """Write one file atomically: the tree filled from `arrays` (one entry per row), the metadata records
    and the provenance as JSON strings."""
    missing = [name for name in (*layout.branches, *layout.metadata) if name not in {**arrays, **metadata}]
    if missing:
        raise ValueError(f"{path}: nothing given for {missing} of the '{layout.tree}' layout")
    columns = {name: np.asarray(arrays[name]).astype(dtype) for name, dtype in layout.branches.items()}
    types = {
        name: (dtype if columns[name].ndim == 1 else (dtype, columns[name].shape[1:]))
        for name, dtype in layout.branches.items()
    }
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as f:
            f.mktree(layout.tree, types, title=layout.title)
            f[layout.tree].extend(columns)
            for key in layout.metadata:
                f[key] = to_json(metadata[key])
            f[PROVENANCE_KEY] = to_json(provenance)


def open_checked_root(path: str | Path, layout: RootLayout):
    """The open uproot file at `path`, checked to hold the layout's tree, branches and metadata strings;
    InputFileError otherwise (the file closed)."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: file not found")
    try:
        f = uproot.open(path)
        keys = {k.split(";")[0] for k in f.keys()}
    except Exception as err:  # uproot raises several types for damaged files
        raise InputFileError(
            f"{path}: not a readable ROOT file ({type(err).__name__}: {err}); it is truncated or corrupt, "
            f"delete it and rerun {layout.writer}"
        ) from None
    missing = [k for k in (layout.tree, *layout.metadata) if k not in keys]
    if missing:
        f.close()
        strings = " and ".join(f"a '{s}' string" for s in layout.metadata)
        raise InputFileError(
            f"{path}: missing {missing}; expected a TTree '{layout.tree}' with branches {list(layout.branches)} "
            f"and {strings}, as written by {layout.writer}"
        )
    absent = [b for b in layout.branches if b not in f[layout.tree].keys()]
    if absent:
        f.close()
        raise InputFileError(
            f"{path}: TTree '{layout.tree}' lacks branch(es) {absent}; expected {list(layout.branches)}"
        )
    return f


def read_metadata(path: str | Path, layout: RootLayout) -> dict[str, Any]:
    """The file's metadata records by key, its provenance (None if absent) and its number of entries."""
    with open_checked_root(path, layout) as f:
        record = {key: json.loads(str(f[key])) for key in layout.metadata}
        record[PROVENANCE_KEY] = json.loads(str(f[PROVENANCE_KEY])) if PROVENANCE_KEY in f else None
        record["entries"] = f[layout.tree].num_entries
        return record


def iterate_tree(path: str | Path, layout: RootLayout, step_size: int) -> Iterator[dict[str, np.ndarray]]:
    """Yield {branch: array} for at most `step_size` entries at a time, so memory does not grow with the file."""
    with open_checked_root(path, layout) as f:
        try:
            yield from f[layout.tree].iterate(list(layout.branches), step_size=step_size, library="np")
        except Exception as err:
            raise InputFileError(
                f"{path}: reading TTree '{layout.tree}' failed ({type(err).__name__}: {err}); the file is "
                f"truncated or corrupt, delete it and rerun {layout.writer}"
            ) from None
