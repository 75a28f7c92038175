"""What every calorimeter generator does around its own sampling: check the conditions, warn about
extrapolation, and run timed batches (the throughput the validation compares with the simulator)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)


def checked_conditions(energy, theta, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Incident energies (GeV) and angles (rad) as float64 (N,) arrays; ValueError naming what is wrong."""
    energy = np.asarray(energy, dtype=np.float64).ravel()
    theta = np.asarray(theta, dtype=np.float64).ravel()
    if len(energy) != len(theta):
        raise ValueError(f"energy and theta must have the same length; got {len(energy)} and {len(theta)}")
    if len(energy) == 0:
        raise ValueError("no conditions given: energy and theta are empty")
    if not (np.isfinite(energy).all() and np.isfinite(theta).all()) or (energy <= 0).any():
        raise ValueError("incident energies must be finite and positive, angles finite")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size}")
    return energy, theta


def warn_if_extrapolating(energy: np.ndarray, meta: dict[str, Any]) -> None:
    """Log a warning when the energies leave the range the model was trained on (model file metadata)."""
    trained = meta.get("condition_ranges", {}).get("energy_gev")
    if trained and (energy.min() < 0.99 * trained[0] or energy.max() > 1.01 * trained[1]):
        log.warning(
            "energies %.3g..%.3g GeV reach outside the trained %.3g..%.3g GeV; expect extrapolation",
            energy.min(),
            energy.max(),
            *trained,
        )


def timed_batches(
    cells: np.ndarray, batch_size: int, run_batch: Callable[[slice], torch.Tensor], device: torch.device
) -> float:
    """Fill `cells` (N, ...) batch by batch with `run_batch(slice)`; return showers/s, timed after one
    untimed warm-up batch (allocations, kernel selection)."""
    n = len(cells)
    run_batch(slice(0, min(batch_size, n)))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        cells[sl] = run_batch(sl).numpy()
    elapsed = time.perf_counter() - started
    rate = n / max(elapsed, 1e-9)
    log.info("generated %d showers in %.3g s (%.4g showers/s on %s)", n, elapsed, rate, device)
    return rate
