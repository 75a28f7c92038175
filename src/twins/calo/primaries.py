"""The primary particles of the showers: drawn for the simulation, or chosen for the generation.

A primary is an incident energy (GeV), an incidence angle theta (rad, from the calorimeter normal, tilted in the
x-z plane) and a PDG id. The simulation draws them from the calo.simulate slice:
    particle: e- | e+ | gamma
    energy_gev: {spectrum: list, values: [...]} | {spectrum: uniform | log_uniform, min, max}
    incidence_angle_deg: {min, max}     uniform in degrees between the limits
The generators are sampled at the test set's primaries or at the grid of calo.generate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from twins.calo.showers import ShowerSample
from twins.core.config import resolve

PARTICLE_PDG = {"e-": 11, "e+": -11, "gamma": 22}

_KEY = "calo.simulate"


def _finite(value: Any, key: str) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{_KEY}.{key} must be a finite number, got {value!r}")


def simulation_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The calo.simulate slice with the schema's defaults filled in and checked (ConfigError, a ValueError,
    naming the key), plus the rules across keys that the schema cannot express."""
    resolved = resolve(_KEY, settings)
    energy = resolved["energy_gev"]
    if energy["spectrum"] == "list":
        if not energy.get("values"):
            raise ValueError(f"{_KEY}.energy_gev.values must be a non-empty list of energies (GeV) for spectrum: list")
        for value in energy["values"]:
            _finite(value, "energy_gev.values")
    else:
        for key in ("min", "max"):
            if key not in energy:
                raise ValueError(f"{_KEY}.energy_gev.{key} is required for spectrum: {energy['spectrum']}")
            _finite(energy[key], f"energy_gev.{key}")
        if energy["min"] > energy["max"]:
            raise ValueError(
                f"{_KEY}.energy_gev.min = {energy['min']} is above energy_gev.max = {energy['max']}; swap them"
            )
    angle = resolved["incidence_angle_deg"]
    if angle["min"] > angle["max"]:
        raise ValueError(
            f"{_KEY}.incidence_angle_deg.min = {angle['min']} is above incidence_angle_deg.max = {angle['max']}"
        )
    return resolved


def sample_primaries(
    settings: Mapping[str, Any], n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw n primaries from the calo.simulate slice: energy (GeV, float64), theta (rad, float64, uniform in
    degrees between the limits) and PDG id (int32). Draws the energies first, then the angles."""
    settings = simulation_settings(settings)
    if n < 0:
        raise ValueError(f"number of events must be >= 0, got {n}")
    spec = settings["energy_gev"]
    if spec["spectrum"] == "list":
        values = np.asarray(spec["values"], dtype=np.float64)
        energy = values[rng.integers(0, len(values), size=n)]
    elif spec["spectrum"] == "uniform":
        energy = rng.uniform(float(spec["min"]), float(spec["max"]), size=n)
    else:  # log_uniform
        energy = np.exp(rng.uniform(math.log(spec["min"]), math.log(spec["max"]), size=n))
    angle = settings["incidence_angle_deg"]
    theta = np.deg2rad(rng.uniform(float(angle["min"]), float(angle["max"]), size=n))
    pdg = np.full(n, PARTICLE_PDG[settings["particle"]], dtype=np.int32)
    return energy.astype(np.float64), theta.astype(np.float64), pdg


def generation_conditions(
    reference: ShowerSample, settings: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(energy GeV, theta rad, pdg) to generate at: the reference's (the test set), or the configured grid of
    the calo.generate slice (every energy at every angle, showers_per_point times, the reference's particle)."""
    if settings["conditions"] == "test":
        return reference.energy, reference.theta, reference.pdg
    grid = settings["grid"]
    energy, angle = np.meshgrid(grid["energy_gev"], np.deg2rad(grid["incidence_angle_deg"]), indexing="ij")
    energy = np.repeat(energy.ravel(), grid["showers_per_point"]).astype(np.float64)
    theta = np.repeat(angle.ravel(), grid["showers_per_point"]).astype(np.float64)
    return energy, theta, np.full(len(energy), reference.pdg[0], dtype=np.int32)
