"""The calorimeter twin's file layouts: the simulator's ROOT chunks, the shower HDF5 files and the training splits.

ROOT (one file per simulation chunk, rule calo_simulate): TTree "showers" with energy (double, GeV), theta
(double, rad), pdg (int) and cells (float[nx][ny][nz], GeV); TObjString "geometry" and "provenance" (JSON).

Shower HDF5 (calo_convert's showers.h5, calo_generate's <model>.h5): showers float32 (N, nx, ny, nz) GeV,
energy float64 (N,) GeV, theta float64 (N,) rad, pdg int32 (N,); chunked and compressed; root attributes
"geometry" and "provenance" (JSON).

Training split (calo_preprocess's train/validation/test.h5): the shower datasets after the readout threshold
plus the model-space tensor `x` and the `conditions` (N, 2); attributes "transform", "geometry", "split" and
"provenance".

ROOT files of other Geant4 applications are read through a mapping in twins.calo.external_root.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from twins.calo.showers import ShowerSample
from twins.calo.transform import ShowerTransform
from twins.core.config import resolve
from twins.core.io import InputFileError, atomic_path, open_hdf5, read_datasets, set_provenance
from twins.core.provenance import make_provenance, to_json

log = logging.getLogger(__name__)

SHOWER_DATASETS = ("showers", "energy", "theta", "pdg")
HDF5_COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


# ---------------------------------------------------------------------------------------------- ROOT
# uproot is imported where a ROOT file is read or written: the rules that read only HDF5 (calo_validate) run
# in an env without it.


def root_layout():
    """The simulator's ROOT layout (a twins.core.rootio.RootLayout)."""
    from twins.core.rootio import RootLayout

    return RootLayout(
        tree="showers",
        branches={"energy": "f8", "theta": "f8", "pdg": "i4", "cells": "f4"},
        metadata=("geometry",),
        title="calorimeter showers (GeV, rad)",
        writer="calo_simulate",
    )


def write_showers_root(path: str | Path, sample: ShowerSample, geometry: dict, provenance: dict) -> None:
    """Write one simulation chunk as a ROOT file, atomically."""
    from twins.core.rootio import write_tree

    arrays = {"energy": sample.energy, "theta": sample.theta, "pdg": sample.pdg, "cells": sample.cells}
    write_tree(path, root_layout(), arrays, {"geometry": geometry}, provenance)


def read_root_metadata(path: str | Path) -> dict[str, Any]:
    """Geometry, provenance and number of showers of a ROOT shower file."""
    from twins.core.rootio import read_metadata

    return read_metadata(path, root_layout())


def iterate_root_showers(path: str | Path, step_size: int) -> Iterator[ShowerSample]:
    """Yield the file's showers in chunks of at most `step_size`, so memory does not grow with the file."""
    from twins.core.rootio import iterate_tree

    for arrays in iterate_tree(path, root_layout(), step_size):
        yield ShowerSample(arrays["cells"], arrays["energy"], arrays["theta"], arrays["pdg"])


# ---------------------------------------------------------------------------------------------- HDF5


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
                "showers",
                (0, *cell_shape),
                "f4",
                maxshape=(None, *cell_shape),
                chunks=(chunk, *cell_shape),
                track_times=False,
                **HDF5_COMPRESSION,
            ),
            **{
                name: self.file.create_dataset(
                    name,
                    (0,),
                    dtype,
                    maxshape=(None,),
                    chunks=(max(chunk, 1024),),
                    track_times=False,
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
            ("showers", sample.cells),
            ("energy", sample.energy),
            ("theta", sample.theta),
            ("pdg", sample.pdg),
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


def convert_root_to_hdf5(root_files: Sequence[str | Path], out_h5: str | Path, settings: dict[str, Any]) -> int:
    """Merge the simulator's ROOT chunk files into `out_h5`; return the number of showers.

    settings (config slice calo.convert, schema defaults for keys left out): step_size — showers read per step
    (bounds peak memory); chunk_showers — HDF5 chunk length along the shower axis.
    """
    if not root_files:
        raise ValueError("calo_convert got no ROOT files; check calo.simulate.chunks >= 1")
    resolved = resolve("calo.convert", settings)
    metadata = [read_root_metadata(p) for p in root_files]  # validates every file before writing anything
    geometry = metadata[0]["geometry"]
    for path, meta in zip(root_files[1:], metadata[1:]):
        if meta["geometry"] != geometry:
            raise InputFileError(
                f"{path}: geometry differs from {root_files[0]}; all chunks must come from one simulation"
            )
    shape = (geometry["nx"], geometry["ny"], geometry["nz"])
    writer = ShowerHDF5Writer(out_h5, shape, chunk_showers=int(resolved["chunk_showers"]))
    try:
        for path in root_files:
            for sample in iterate_root_showers(path, int(resolved["step_size"])):
                if sample.cells.shape[1:] != shape:
                    raise InputFileError(f"{path}: cells have shape {sample.cells.shape[1:]}, geometry says {shape}")
                writer.append(sample)
    except BaseException:
        writer.abort()
        raise
    n = writer.n
    upstream = [m["provenance"] for m in metadata]
    writer.close(geometry, make_provenance("calo_convert", settings, inputs=root_files, upstream=upstream))
    log.info("wrote %d showers from %d ROOT files to %s", n, len(root_files), out_h5)
    return n


# ---------------------------------------------------------------------------------------------- splits


def write_training_split(
    path: str | Path,
    arrays: dict[str, np.ndarray],
    transform: ShowerTransform,
    geometry: dict,
    split: str,
    provenance: dict,
) -> None:
    """One preprocessed split, atomically: arrays holds showers (N, nx, ny, nz) GeV after the threshold,
    x (N, nx, ny, nz) float32 model space, conditions (N, 2) float32, energy (N,) GeV, theta (N,) rad, pdg (N,)
    (written in this order)."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w", track_order=True) as f:
        for name in ("showers", "x", "conditions", "energy", "theta", "pdg"):
            f.create_dataset(name, data=arrays[name], track_times=False, **HDF5_COMPRESSION)
        f.attrs["transform"] = to_json(transform.to_dict())
        f.attrs["geometry"] = to_json(geometry)
        f.attrs["split"] = split
        set_provenance(f, provenance)
