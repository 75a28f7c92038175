"""Generation as a workflow step: choose the conditions, sample the model, write HDF5 + throughput."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from twins.calo.hdf5io import read_geometry_attr, read_showers_h5, write_showers_h5
from twins.calo.models import sample
from twins.calo.showers import ShowerSample
from twins.core.io import write_json
from twins.core.provenance import make_provenance

log = logging.getLogger(__name__)


def generation_conditions(test_h5: str | Path, settings: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(energy GeV, theta rad, pdg) to generate at: the test set's, or the configured grid."""
    reference = read_showers_h5(test_h5)
    if settings["conditions"] == "test":
        return reference.energy, reference.theta, reference.pdg
    grid = settings["grid"]
    energy, angle = np.meshgrid(grid["energy_gev"], np.deg2rad(grid["incidence_angle_deg"]), indexing="ij")
    energy = np.repeat(energy.ravel(), grid["showers_per_point"]).astype(np.float64)
    theta = np.repeat(angle.ravel(), grid["showers_per_point"]).astype(np.float64)
    return energy, theta, np.full(len(energy), reference.pdg[0], dtype=np.int32)


def generate_to_file(
    model: str,
    model_path: str | Path,
    test_h5: str | Path,
    settings: dict[str, Any],
    seed: int,
    device: str,
    out_h5: str | Path,
    out_timing: str | Path,
    validation_h5: str | Path | None = None,
) -> None:
    """Sample the trained `model` at the chosen conditions; write the showers (GeV) and the throughput.

    settings: the `calo.generate` slice; its `caloinn` sub-slice sets CaloINN's sampling: whether generated
    features are clipped to the training range (`clamp_to_training_range`) and the temperature, a number or
    `auto`, chosen from `temperature_grid` on `validation_h5` (see twins.calo.temperature) and recorded in
    the timing file with the scan."""
    energy, theta, pdg = generation_conditions(test_h5, settings)
    generated = sample(model, model_path, energy, theta, settings, seed, device, validation_h5)
    cells, showers_per_second, sampling = generated.cells, generated.showers_per_second, generated.sampling
    geometry = read_geometry_attr(test_h5)
    inputs = [model_path, test_h5] + ([validation_h5] if sampling.get("scan") else [])
    record = make_provenance("calo_generate", settings, seed=generated.seed, inputs=inputs)
    write_showers_h5(out_h5, ShowerSample(cells, energy, theta, pdg), geometry, record)
    timing = {"showers": len(energy), "showers_per_second": showers_per_second, "device": device}
    write_json(out_timing, {**timing, **({"sampling": sampling} if sampling else {})})
    log.info("generated %d showers at %.0f showers/s", len(energy), showers_per_second)
