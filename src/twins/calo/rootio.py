"""The simulator's ROOT files, written and read with uproot (one file per simulation chunk).

Layout: TTree "showers" with energy (double, GeV), theta (double, rad), pdg (int) and
cells (float[nx][ny][nz], GeV); TObjString "geometry" and "provenance" (JSON).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from twins.calo.showers import ShowerSample
from twins.core.rootio import RootLayout, iterate_tree, read_metadata, write_tree

LAYOUT = RootLayout(
    tree="showers",
    branches={"energy": "f8", "theta": "f8", "pdg": "i4", "cells": "f4"},
    metadata=("geometry",),
    title="calorimeter showers (GeV, rad)",
    writer="calo_simulate",
)


def write_showers_root(path: str | Path, sample: ShowerSample, geometry: dict, provenance: dict) -> None:
    """Write one simulation chunk as a ROOT file, atomically."""
    arrays = {"energy": sample.energy, "theta": sample.theta, "pdg": sample.pdg, "cells": sample.cells}
    write_tree(path, LAYOUT, arrays, {"geometry": geometry}, provenance)


def read_root_metadata(path: str | Path) -> dict[str, Any]:
    """Geometry, provenance and number of showers of a ROOT shower file."""
    return read_metadata(path, LAYOUT)


def iterate_root_showers(path: str | Path, step_size: int) -> Iterator[ShowerSample]:
    """Yield the file's showers in chunks of at most `step_size`, so memory does not grow with the file."""
    for arrays in iterate_tree(path, LAYOUT, step_size):
        yield ShowerSample(arrays["cells"], arrays["energy"], arrays["theta"], arrays["pdg"])
