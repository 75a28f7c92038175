"""The TPC twin's file layouts: the simulator's ROOT chunks, the segment HDF5 files and the timing records.

ROOT (one file per simulation chunk, rule tpc_simulate): TTree "segments" with crossing_angle, dip_angle (rad),
drift_length (cm), pad_coordinate (pads), pt (GeV) as doubles, pad_row (int32) and response
(float32[pads][time_buckets], ADC counts); TObjString "detector" and "provenance" (JSON).

Segment HDF5 (tpc_convert on): response float32 (N, pads, time_buckets) in ADC counts; features float64 (N, 6)
with the column names of `twins.tpc.tracks.FEATURES` in attribute "columns"; root attributes "detector" and
"provenance" (JSON). Preprocessed splits add log_response float32 (N, pads, buckets) = log10(1 + response)
and encoded float32 (N, k) with its own "columns" (see `twins.tpc.encoding`); generated files hold response
and features only.

Timing JSON: tpc_simulate's {"segments", "seconds", "segments_per_second"} per chunk; tpc_generate's
{"variant", "segments", "segments_per_second", "device", "threads"}.

uproot is only in the simulation env (envs/calo-sim.yaml): the ROOT functions import twins.core.rootio when
called, so the torch and report envs read and write HDF5 through this module without it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from twins.core.io import InputFileError, atomic_path, open_hdf5, read_datasets, read_json, set_provenance
from twins.core.provenance import to_json
from twins.tpc.tracks import FEATURES

HDF5_COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
ROOT_BRANCHES = {**{name: ("i4" if name == "pad_row" else "f8") for name in FEATURES}, "response": "f4"}


def root_layout():
    """The twins.core.rootio.RootLayout of tpc_simulate's ROOT chunks."""
    from twins.core.rootio import RootLayout

    return RootLayout(
        tree="segments",
        branches=ROOT_BRANCHES,
        metadata=("detector",),
        title="TPC pad-row segments (rad, cm, pads, GeV, ADC)",
        writer="tpc_simulate",
    )


def write_segments_root(
    path: str | Path, responses: np.ndarray, features: dict[str, np.ndarray], detector: dict, provenance: dict
) -> None:
    """Write one chunk (responses (N, pads, buckets), features (N,) each) atomically."""
    from twins.core.rootio import write_tree

    write_tree(path, root_layout(), {**features, "response": responses}, {"detector": detector}, provenance)


def read_root_metadata(path: str | Path) -> dict[str, Any]:
    """Detector, provenance and entry count of a segment file."""
    from twins.core.rootio import read_metadata

    return read_metadata(path, root_layout())


def iterate_root_segments(path: str | Path, step_size: int) -> Iterator[dict[str, np.ndarray]]:
    """Yield {branch: array} in chunks of at most `step_size` segments."""
    from twins.core.rootio import iterate_tree

    yield from iterate_tree(path, root_layout(), step_size)


def read_root_chunks(root_files: Sequence[str | Path], step_size: int) -> dict[str, Any]:
    """Every chunk's segments, read `step_size` at a time, in file order: {"response": float32 (N, pads, buckets),
    "features": float64 (N, 6) in FEATURES order, "detector": dict, "upstream": [each file's provenance]}.

    ValueError when there is no file; InputFileError when the chunks come from different detectors."""
    if not root_files:
        raise ValueError("tpc_convert got no ROOT files; check tpc.simulate.chunks >= 1")
    metadata = [read_root_metadata(p) for p in root_files]  # validate every file before reading data
    detector = metadata[0]["detector"]
    for path, meta in zip(root_files[1:], metadata[1:]):
        if meta["detector"] != detector:
            raise InputFileError(f"{path}: detector differs from {root_files[0]}; chunks must come from one simulation")
    responses, features = [], []
    for path in root_files:
        for arrays in iterate_root_segments(path, step_size):
            responses.append(arrays["response"].astype(np.float32))
            features.append(np.stack([arrays[k].astype(np.float64) for k in FEATURES], axis=1))
    return {
        "response": np.concatenate(responses),
        "features": np.concatenate(features),
        "detector": detector,
        "upstream": [m["provenance"] for m in metadata],
    }


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
                    **(HDF5_COMPRESSION if len(values) else {}),
                )
                if name in columns:
                    f[name].attrs["columns"] = to_json(columns[name])
            f.attrs["detector"] = to_json(detector)
            for key, value in (attrs or {}).items():
                f.attrs[key] = to_json(value)
            set_provenance(f, provenance)


def read_segments_h5(path: str | Path, names: tuple[str, ...] = ("response", "features")) -> dict[str, Any]:
    """{dataset: array} plus "detector" (dict), "columns" ({dataset: names}) for those with columns and "attrs"
    (the other root attributes but the provenance, e.g. the encoding's "scales")."""
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


def require_same_segments(
    generated: dict[str, Any], reference: dict[str, Any], generated_path: str | Path, reference_path: str | Path
) -> None:
    """ValueError unless the generated responses are those of the reference's segments (shape and features)."""
    if generated["response"].shape != reference["response"].shape or not np.array_equal(
        generated["features"], reference["features"]
    ):
        raise ValueError(
            f"{generated_path}: generated responses do not match the test segments of {reference_path}; "
            "rerun tpc_generate"
        )


def read_timings(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """The timing records of tpc_simulate's chunks (or any JSON timing files), in order."""
    return [read_json(p) for p in paths]
