"""Monte Carlo production: the simulation scattered into chunk jobs, each with its own derived seed."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from twins.calo.geometry import load_geometry
from twins.calo.rootio import write_showers_root
from twins.calo.showers import ShowerSample
from twins.calo.simulate import simulate_showers
from twins.core.io import write_json
from twins.core.provenance import make_provenance
from twins.core.seeding import derive_seed

log = logging.getLogger(__name__)


def chunk_events(total: int, chunks: int, chunk: int) -> int:
    """Events of one chunk: `total` spread over `chunks` jobs, the first ones taking the remainder."""
    if not 0 <= chunk < chunks:
        raise ValueError(f"chunk {chunk} outside 0..{chunks - 1} (calo.simulate.chunks = {chunks})")
    return total // chunks + (1 if chunk < total % chunks else 0)


def simulate_chunk(
    geometry_path: str | Path,
    settings: dict[str, Any],
    seed: int,
    chunk: int,
    out_root: str | Path,
    out_timing: str | Path,
) -> ShowerSample:
    """Simulate chunk `chunk` of calo.simulate.events with its own derived seed; write ROOT + timing JSON."""
    geometry = load_geometry(geometry_path)
    n_events = chunk_events(settings["events"], settings["chunks"], chunk)
    chunk_seed = derive_seed(seed, "calo", "simulate", chunk)
    started = time.perf_counter()
    sample = simulate_showers(geometry, settings, n_events, np.random.default_rng(chunk_seed))
    seconds = time.perf_counter() - started
    record = make_provenance(
        "calo_simulate", settings, seed=chunk_seed, inputs=[geometry_path], master_seed=seed, chunk=chunk
    )
    write_showers_root(out_root, sample, geometry.to_dict(), record)
    write_json(
        out_timing,
        {
            "backend": settings["backend"],
            "showers": n_events,
            "seconds": seconds,
            "showers_per_second": n_events / seconds,
        },
    )
    log.info("chunk %d: %d showers in %.1f s (%.0f showers/s)", chunk, n_events, seconds, n_events / seconds)
    return sample
