"""tpc_simulate: the detailed simulation of one chunk of segments, with its own derived seed and timing."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from twins.core.io import write_json
from twins.core.provenance import make_provenance
from twins.core.seeding import derive_seed
from twins.tpc.detector import load_detector
from twins.tpc.padrow import PadRowSimulator
from twins.tpc.rootio import write_segments_root
from twins.tpc.tracks import sample_segments

log = logging.getLogger(__name__)


def chunk_segments(total: int, chunks: int, chunk: int) -> int:
    """Segments of one chunk: `total` over `chunks` jobs, the first ones taking the remainder."""
    if not 0 <= chunk < chunks:
        raise ValueError(f"chunk {chunk} outside 0..{chunks - 1} (tpc.simulate.chunks = {chunks})")
    return total // chunks + (1 if chunk < total % chunks else 0)


def simulate_chunk(
    detector_path: str | Path,
    settings: dict[str, Any],
    seed: int,
    chunk: int,
    out_root: str | Path,
    out_timing: str | Path,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Sample segments from helices, simulate their responses, write ROOT and a timing JSON.

    The timing covers the response simulation (what a generator replaces), not the track sampling."""
    detector = load_detector(detector_path)
    n = chunk_segments(settings["segments"], settings["chunks"], chunk)
    chunk_seed = derive_seed(seed, "tpc", "simulate", chunk)
    rng = np.random.default_rng(chunk_seed)
    segments = sample_segments(n, detector, settings, rng)
    started = time.perf_counter()
    responses = PadRowSimulator(detector).simulate(segments, rng)
    seconds = time.perf_counter() - started
    record = make_provenance(
        "tpc_simulate", settings, seed=chunk_seed, inputs=[detector_path], master_seed=seed, chunk=chunk
    )
    write_segments_root(out_root, responses, segments, detector.to_dict(), record)
    write_json(out_timing, {"segments": n, "seconds": seconds, "segments_per_second": n / seconds})
    log.info("chunk %d: %d segments in %.2f s (%.0f segments/s)", chunk, n, seconds, n / seconds)
    return responses, segments
