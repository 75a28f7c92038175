"""The simulator's ROOT files, written and read with uproot (one file per simulation chunk).

Layout: TTree "showers" with energy (double, GeV), theta (double, rad), pdg (int) and
cells (float[nx][ny][nz], GeV); TObjString "geometry" and "provenance" (JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import uproot

from twins.calo.showers import ShowerSample
from twins.core.io import InputFileError, atomic_path
from twins.core.provenance import to_json
from twins.core.rootfile import open_checked_root

TREE = "showers"
BRANCHES = ("energy", "theta", "pdg", "cells")


def write_showers_root(path: str | Path, sample: ShowerSample, geometry: dict, provenance: dict) -> None:
    """Write one simulation chunk as a ROOT file, atomically."""
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as f:
            f.mktree(
                TREE,
                {"energy": "f8", "theta": "f8", "pdg": "i4", "cells": ("f4", sample.cells.shape[1:])},
                title="calorimeter showers (GeV, rad)",
            )
            f[TREE].extend(
                {
                    "energy": sample.energy.astype("f8"),
                    "theta": sample.theta.astype("f8"),
                    "pdg": sample.pdg.astype("i4"),
                    "cells": sample.cells.astype("f4"),
                }
            )
            f["geometry"] = to_json(geometry)
            f["provenance"] = to_json(provenance)


def _open_root(path: str | Path):
    return open_checked_root(path, TREE, BRANCHES, ("geometry",), "calo_simulate")


def read_root_metadata(path: str | Path) -> dict[str, Any]:
    """Geometry, provenance and number of showers of a ROOT shower file."""
    with _open_root(path) as f:
        return {
            "geometry": json.loads(str(f["geometry"])),
            "provenance": json.loads(str(f["provenance"])) if "provenance" in f else None,
            "entries": f[TREE].num_entries,
        }


def iterate_root_showers(path: str | Path, step_size: int) -> Iterator[ShowerSample]:
    """Yield the file's showers in chunks of at most `step_size`, so memory does not grow with the file."""
    with _open_root(path) as f:
        try:
            for arrays in f[TREE].iterate(list(BRANCHES), step_size=step_size, library="np"):
                yield ShowerSample(arrays["cells"], arrays["energy"], arrays["theta"], arrays["pdg"])
        except InputFileError:
            raise
        except Exception as err:
            raise InputFileError(
                f"{path}: reading TTree '{TREE}' failed ({type(err).__name__}: {err}); the file is truncated "
                "or corrupt, delete it and rerun calo_simulate"
            ) from None
