"""File I/O shared by the twins: atomic writes, HDF5 with provenance attributes, JSON sidecars."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from twins.core.provenance import to_json

PROVENANCE_ATTR = "provenance"


class InputFileError(ValueError):
    """An input file is missing, truncated or not what the step expects."""


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A killed or failing step therefore never leaves a half-written output under the real name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | Path, record: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(to_json(record) + "\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except json.JSONDecodeError as err:
        raise InputFileError(f"{path}: not valid JSON ({err}); rerun the rule that writes it") from None


def set_provenance(obj: h5py.File | h5py.Group, record: dict[str, Any]) -> None:
    obj.attrs[PROVENANCE_ATTR] = to_json(record)


def get_provenance(path: str | Path) -> dict[str, Any]:
    with open_hdf5(path) as f:
        if PROVENANCE_ATTR not in f.attrs:
            raise InputFileError(f"{path}: no '{PROVENANCE_ATTR}' attribute; not written by this workflow")
        return json.loads(f.attrs[PROVENANCE_ATTR])


def open_hdf5(path: str | Path, required: tuple[str, ...] = ()) -> h5py.File:
    """Open an HDF5 file for reading, with an error that names the file when it is missing,
    truncated or lacks one of the `required` datasets."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise InputFileError(
            f"{path}: cannot be read as HDF5 ({err}); the file is truncated or corrupt, "
            "delete it and rerun the rule that writes it"
        ) from None
    missing = [name for name in required if name not in f]
    if missing:
        f.close()
        raise InputFileError(f"{path}: missing dataset(s) {missing}; expected {list(required)}")
    return f


def read_datasets(path: str | Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read whole datasets, turning HDF5's low-level read errors into a message naming the file."""
    with open_hdf5(path, required=names) as f:
        try:
            return {name: f[name][...] for name in names}
        except (OSError, RuntimeError) as err:
            raise InputFileError(
                f"{path}: dataset could not be read ({err}); the file is truncated or corrupt, "
                "delete it and rerun the rule that writes it"
            ) from None
