"""The simulator's ROOT files (uproot): one TTree of segments per simulation chunk.

Layout: TTree "segments" with crossing_angle, dip_angle (rad), drift_length (cm), pad_coordinate (pads),
pt (GeV) as doubles, pad_row (int32) and response (float32[pads][time_buckets], ADC counts);
TObjString "detector" and "provenance" (JSON).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from twins.core.rootio import RootLayout, iterate_tree, read_metadata, write_tree
from twins.tpc.tracks import FEATURES

LAYOUT = RootLayout(
    tree="segments",
    branches={**{name: ("i4" if name == "pad_row" else "f8") for name in FEATURES}, "response": "f4"},
    metadata=("detector",),
    title="TPC pad-row segments (rad, cm, pads, GeV, ADC)",
    writer="tpc_simulate",
)


def write_segments_root(
    path: str | Path, responses: np.ndarray, features: dict[str, np.ndarray], detector: dict, provenance: dict
) -> None:
    """Write one chunk (responses (N, pads, buckets), features (N,) each) atomically."""
    write_tree(path, LAYOUT, {**features, "response": responses}, {"detector": detector}, provenance)


def read_root_metadata(path: str | Path) -> dict[str, Any]:
    """Detector, provenance and entry count of a segment file."""
    return read_metadata(path, LAYOUT)


def iterate_root_segments(path: str | Path, step_size: int) -> Iterator[dict[str, np.ndarray]]:
    """Yield {branch: array} in chunks of at most `step_size` segments."""
    yield from iterate_tree(path, LAYOUT, step_size)
