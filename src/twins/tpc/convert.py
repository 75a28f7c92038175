"""tpc_convert: merge the simulation chunks (ROOT) into one HDF5 file of responses and features."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from twins.core.io import InputFileError
from twins.core.provenance import make_provenance
from twins.tpc.dataset import write_segments_h5
from twins.tpc.rootio import iterate_root_segments, read_root_metadata
from twins.tpc.tracks import FEATURES

log = logging.getLogger(__name__)


def convert_root_to_hdf5(root_files: Sequence[str | Path], out_h5: str | Path, settings: dict[str, Any]) -> int:
    """Read every chunk in steps of `settings['step_size']` segments; return the number of segments."""
    if not root_files:
        raise ValueError("tpc_convert got no ROOT files; check tpc.simulate.chunks >= 1")
    metadata = [read_root_metadata(p) for p in root_files]  # validate every file before reading data
    detector = metadata[0]["detector"]
    for path, meta in zip(root_files[1:], metadata[1:]):
        if meta["detector"] != detector:
            raise InputFileError(f"{path}: detector differs from {root_files[0]}; chunks must come from one simulation")
    responses, features = [], []
    for path in root_files:
        for arrays in iterate_root_segments(path, int(settings["step_size"])):
            responses.append(arrays["response"].astype(np.float32))
            features.append(np.stack([arrays[k].astype(np.float64) for k in FEATURES], axis=1))
    record = make_provenance("tpc_convert", settings, inputs=root_files, upstream=[m["provenance"] for m in metadata])
    write_segments_h5(
        out_h5, {"response": np.concatenate(responses), "features": np.concatenate(features)}, detector, record
    )
    n = sum(len(r) for r in responses)
    log.info("wrote %d segments from %d ROOT files to %s", n, len(root_files), out_h5)
    return n
