"""The calorimeter simulators by name (calo.simulate.backend): the built-in GFlash Monte Carlo or Geant4.

`settings` is the config slice calo.simulate (twins.calo.primaries documents the primaries' keys):
    backend: gflash | geant4
    events, chunks                      the workflow's Monte Carlo production: `events` spread over `chunks` jobs
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from twins.calo.geant4 import simulate_showers_geant4
from twins.calo.geometry import CaloGeometry
from twins.calo.gflash_showers import simulate_gflash
from twins.calo.primaries import sample_primaries, simulation_settings
from twins.calo.showers import ShowerSample


def simulate_showers(
    geometry: CaloGeometry, settings: Mapping[str, Any] | None, n_events: int, rng: np.random.Generator
) -> ShowerSample:
    """Simulate n_events showers with the backend named by settings["backend"] (schema default gflash).

    Deterministic given the state of `rng`. The geant4 backend draws its seed from `rng`; gflash draws the
    primaries, then the showers.
    """
    settings = simulation_settings(settings)
    if settings["backend"] == "geant4":
        return simulate_showers_geant4(geometry, settings, n_events, int(rng.integers(1, 2**31 - 1)))
    energy, theta, pdg = sample_primaries(settings, n_events, rng)
    cells = simulate_gflash(geometry, energy, theta, pdg, rng)
    return ShowerSample(cells, energy, theta, pdg)


def chunk_events(total: int, chunks: int, chunk: int) -> int:
    """Events of one chunk: `total` spread over `chunks` jobs, the first ones taking the remainder."""
    if not 0 <= chunk < chunks:
        raise ValueError(f"chunk {chunk} outside 0..{chunks - 1} (calo.simulate.chunks = {chunks})")
    return total // chunks + (1 if chunk < total % chunks else 0)
