"""Open a ROOT file that a rule of this workflow wrote, with errors that name the file, what is missing
and the rule to rerun (uproot raises several exception types for damaged files)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import uproot

from twins.core.io import InputFileError


def open_checked_root(path: str | Path, tree: str, branches: Sequence[str], strings: Sequence[str], writer: str):
    """The open uproot file at `path`, checked to hold TTree `tree` with `branches` and the string keys
    `strings` (JSON metadata); InputFileError otherwise, closing the file. writer: the rule that writes it."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: file not found")
    try:
        f = uproot.open(path)
        keys = {k.split(";")[0] for k in f.keys()}
    except Exception as err:
        raise InputFileError(
            f"{path}: not a readable ROOT file ({type(err).__name__}: {err}); it is truncated or corrupt, "
            f"delete it and rerun {writer}"
        ) from None
    missing = [k for k in (tree, *strings) if k not in keys]
    if missing:
        f.close()
        strings_text = " and ".join(f"a '{s}' string" for s in strings)
        raise InputFileError(
            f"{path}: missing {missing}; expected a TTree '{tree}' with branches {list(branches)} "
            f"and {strings_text}, as written by {writer}"
        )
    absent = [b for b in branches if b not in f[tree].keys()]
    if absent:
        f.close()
        raise InputFileError(f"{path}: TTree '{tree}' lacks branch(es) {absent}; expected {list(branches)}")
    return f
