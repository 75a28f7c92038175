"""The simulator's ROOT files (uproot): one TTree of segments per simulation chunk.

Layout: TTree "segments" with crossing_angle, dip_angle (rad), drift_length (cm), pad_coordinate (pads),
pt (GeV) as doubles, pad_row (int32) and response (float32[pads][time_buckets], ADC counts);
TObjString "detector" and "provenance" (JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import uproot

from twins.core.io import InputFileError, atomic_path
from twins.core.provenance import to_json
from twins.core.rootfile import open_checked_root
from twins.tpc.tracks import FEATURES

TREE = "segments"
BRANCHES = (*FEATURES, "response")


def write_segments_root(
    path: str | Path, responses: np.ndarray, features: dict[str, np.ndarray], detector: dict, provenance: dict
) -> None:
    """Write one chunk (responses (N, pads, buckets), features (N,) each) atomically."""
    types = {name: ("i4" if name == "pad_row" else "f8") for name in FEATURES}
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as f:
            f.mktree(TREE, {**types, "response": ("f4", responses.shape[1:])},
                     title="TPC pad-row segments (rad, cm, pads, GeV, ADC)")
            f[TREE].extend({**{k: np.asarray(features[k]).astype(t) for k, t in types.items()},
                            "response": responses.astype("f4")})
            f["detector"] = to_json(detector)
            f["provenance"] = to_json(provenance)


def _open_root(path: str | Path):
    return open_checked_root(path, TREE, BRANCHES, ("detector",), "tpc_simulate")


def read_root_metadata(path: str | Path) -> dict[str, Any]:
    """Detector, provenance and entry count of a segment file."""
    with _open_root(path) as f:
        return {"detector": json.loads(str(f["detector"])),
                "provenance": json.loads(str(f["provenance"])) if "provenance" in f else None,
                "entries": f[TREE].num_entries}


def iterate_root_segments(path: str | Path, step_size: int) -> Iterator[dict[str, np.ndarray]]:
    """Yield {branch: array} in chunks of at most `step_size` segments."""
    with _open_root(path) as f:
        try:
            yield from f[TREE].iterate(list(BRANCHES), step_size=step_size, library="np")
        except Exception as err:
            raise InputFileError(f"{path}: reading TTree '{TREE}' failed ({type(err).__name__}: {err}); "
                                 "delete it and rerun tpc_simulate") from None
