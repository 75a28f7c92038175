"""Calorimeter shower files: the simulator's ROOT files (uproot) and the HDF5 files (h5py) downstream.

ROOT layout (one file per simulation chunk):
    TTree "showers": energy (double, GeV), theta (double, rad), pdg (int), cells (float[nx][ny][nz], GeV)
    TObjString "geometry", "provenance": JSON
HDF5 layout:
    showers float32 (N, nx, ny, nz) GeV, energy float64 (N,), theta float64 (N,), pdg int32 (N,)
    root attributes "geometry", "provenance" (JSON)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np
import uproot

from twins.calo.showers import ShowerSample
from twins.core.io import InputFileError, atomic_path, open_hdf5, read_datasets, set_provenance
from twins.core.provenance import to_json

TREE = "showers"
BRANCHES = ("energy", "theta", "pdg", "cells")
SHOWER_DATASETS = ("showers", "energy", "theta", "pdg")
HDF5_COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


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
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: file not found")
    try:
        f = uproot.open(path)
        keys = {k.split(";")[0] for k in f.keys()}
    except Exception as err:  # uproot raises several types for damaged files
        raise InputFileError(
            f"{path}: not a readable ROOT file ({type(err).__name__}: {err}); it is truncated or corrupt, "
            "delete it and rerun calo_simulate"
        ) from None
    missing = [k for k in (TREE, "geometry") if k not in keys]
    if missing:
        f.close()
        raise InputFileError(
            f"{path}: missing {missing}; expected a TTree '{TREE}' with branches {list(BRANCHES)} "
            "and a 'geometry' string, as written by calo_simulate"
        )
    tree = f[TREE]
    absent = [b for b in BRANCHES if b not in tree.keys()]
    if absent:
        f.close()
        raise InputFileError(f"{path}: TTree '{TREE}' lacks branch(es) {absent}; expected {list(BRANCHES)}")
    return f


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


class ShowerHDF5Writer:
    """Append shower chunks to a chunked, compressed HDF5 file; the file appears only on `close()`."""

    def __init__(self, path: str | Path, cell_shape: tuple[int, int, int], chunk_showers: int = 128) -> None:
        self._atomic = atomic_path(path)
        tmp = self._atomic.__enter__()
        self.file = h5py.File(tmp, "w", track_order=True)
        self.n = 0
        chunk = max(1, chunk_showers)
        self.datasets = {
            "showers": self.file.create_dataset(
                "showers", (0, *cell_shape), "f4", maxshape=(None, *cell_shape), chunks=(chunk, *cell_shape),
                track_times=False, **HDF5_COMPRESSION,
            ),
            **{
                name: self.file.create_dataset(
                    name, (0,), dtype, maxshape=(None,), chunks=(max(chunk, 1024),), track_times=False,
                    **HDF5_COMPRESSION,
                )
                for name, dtype in (("energy", "f8"), ("theta", "f8"), ("pdg", "i4"))
            },
        }
        self.datasets["showers"].attrs["units"] = "GeV"
        self.datasets["energy"].attrs["units"] = "GeV"
        self.datasets["theta"].attrs["units"] = "rad"

    def append(self, sample: ShowerSample) -> None:
        m = len(sample)
        for name, values in (
            ("showers", sample.cells), ("energy", sample.energy), ("theta", sample.theta), ("pdg", sample.pdg)
        ):
            ds = self.datasets[name]
            ds.resize(self.n + m, axis=0)
            ds[self.n : self.n + m] = values
        self.n += m

    def close(self, geometry: dict, provenance: dict) -> None:
        self.file.attrs["geometry"] = to_json(geometry)
        set_provenance(self.file, provenance)
        self.file.close()
        self._atomic.__exit__(None, None, None)

    def abort(self) -> None:
        self.file.close()
        self._atomic.__exit__(RuntimeError, RuntimeError("aborted"), None)


def write_showers_h5(path: str | Path, sample: ShowerSample, geometry: dict, provenance: dict) -> None:
    writer = ShowerHDF5Writer(path, sample.cells.shape[1:])
    try:
        writer.append(sample)
    except BaseException:
        writer.abort()
        raise
    writer.close(geometry, provenance)


def read_showers_h5(path: str | Path) -> ShowerSample:
    data = read_datasets(path, SHOWER_DATASETS)
    return ShowerSample(data["showers"], data["energy"], data["theta"], data["pdg"])


def read_geometry_attr(path: str | Path) -> dict:
    with open_hdf5(path) as f:
        if "geometry" not in f.attrs:
            raise InputFileError(f"{path}: no 'geometry' attribute; not a shower file of this workflow")
        return json.loads(f.attrs["geometry"])
