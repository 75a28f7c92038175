"""Segment HDF5 files from tpc_convert on: responses and features, chunked and compressed, with provenance.

Layout: response float32 (N, pads, time_buckets) in ADC counts; features float64 (N, 6) with the column
names of `twins.tpc.tracks.FEATURES` in attribute "columns"; root attributes "detector" and "provenance"
(JSON). Preprocessed splits add log_response float32 (N, pads, buckets) = log10(1 + response) and
encoded float32 (N, k) with its own "columns" (see `twins.tpc.preprocess`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from twins.core.io import InputFileError, atomic_path, open_hdf5, read_datasets, set_provenance
from twins.core.provenance import to_json
from twins.tpc.tracks import FEATURES

COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


def write_segments_h5(
    path: str | Path,
    arrays: dict[str, np.ndarray],
    detector: dict,
    provenance: dict,
    columns: dict[str, list[str]] | None = None,
    attrs: dict[str, Any] | None = None,
) -> None:
    """Write datasets (first axis: segments) atomically; columns: dataset -> column names (attribute)."""
    columns = {"features": list(FEATURES), **(columns or {})}
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w", track_order=True) as f:
            for name, values in arrays.items():
                chunks = (min(max(len(values), 1), 1024), *values.shape[1:])
                f.create_dataset(
                    name,
                    data=values,
                    chunks=chunks if len(values) else None,
                    track_times=False,
                    **(COMPRESSION if len(values) else {}),
                )
                if name in columns:
                    f[name].attrs["columns"] = to_json(columns[name])
            f.attrs["detector"] = to_json(detector)
            for key, value in (attrs or {}).items():
                f.attrs[key] = to_json(value)
            set_provenance(f, provenance)


def read_segments_h5(path: str | Path, names: tuple[str, ...] = ("response", "features")) -> dict[str, Any]:
    """{dataset: array} plus "detector" (dict) and "columns" ({dataset: names}) for those with columns."""
    data: dict[str, Any] = read_datasets(path, names)
    with open_hdf5(path) as f:
        if "detector" not in f.attrs:
            raise InputFileError(f"{path}: no 'detector' attribute; not a segment file of this workflow")
        data["detector"] = json.loads(f.attrs["detector"])
        data["columns"] = {n: json.loads(f[n].attrs["columns"]) for n in names if "columns" in f[n].attrs}
        data["attrs"] = {k: json.loads(v) for k, v in f.attrs.items() if k not in ("detector", "provenance")}
    return data


def feature_columns(data: dict[str, Any]) -> dict[str, np.ndarray]:
    """The raw features of `read_segments_h5` output as {name: (N,)}."""
    return {name: data["features"][:, i] for i, name in enumerate(data["columns"]["features"])}
