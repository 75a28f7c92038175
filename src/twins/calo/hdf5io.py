"""Shower HDF5 files (h5py), from calo_convert on: chunked, compressed, with provenance.

Layout: showers float32 (N, nx, ny, nz) GeV, energy float64 (N,) GeV, theta float64 (N,) rad,
pdg int32 (N,); root attributes "geometry" and "provenance" (JSON).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py

from twins.calo.showers import ShowerSample
from twins.core.io import InputFileError, atomic_path, open_hdf5, read_datasets, set_provenance
from twins.core.provenance import to_json

SHOWER_DATASETS = ("showers", "energy", "theta", "pdg")
HDF5_COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


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
