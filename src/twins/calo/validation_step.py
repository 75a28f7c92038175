"""Validation as a workflow step: read both shower files and the timings, write metrics and figures."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from twins.calo.geometry import geometry_from_dict
from twins.calo.hdf5io import read_geometry_attr, read_showers_h5
from twins.calo.validate import plot_validation, validate_showers
from twins.core.io import read_json, write_json
from twins.core.provenance import make_provenance

log = logging.getLogger(__name__)


def mean_simulation_speed(timing_paths: Sequence[str | Path]) -> float | None:
    """Showers per second of the simulator over all chunks (total showers / total seconds);
    None for external data, which has no simulation timing."""
    if not timing_paths:
        return None
    timings = [read_json(p) for p in timing_paths]
    return sum(t["showers"] for t in timings) / sum(t["seconds"] for t in timings)


def validate_to_files(
    reference_h5: str | Path,
    independent_h5: str | Path,
    generated_h5: str | Path,
    simulate_timings: Sequence[str | Path],
    generate_timing: str | Path,
    settings: dict[str, Any],
    seed: int,
    out_metrics: str | Path,
    out_figures: dict[str, str | Path],
    model: str,
    threads: int = 1,
) -> dict[str, Any]:
    """Generated vs simulated test set (and simulated vs an independent simulated sample, the floor)."""
    settings = {**settings, "classifier": {**settings.get("classifier", {}), "n_threads": int(threads)}}
    reference = read_showers_h5(reference_h5)
    independent = read_showers_h5(independent_h5)
    generated = read_showers_h5(generated_h5)
    geometry = geometry_from_dict(read_geometry_attr(reference_h5))
    same_conditions = len(reference) == len(generated) and np.allclose(reference.energy, generated.energy)
    if not same_conditions:
        log.warning(
            "generated showers are not at the test set's conditions (calo.generate.conditions != test); "
            "the comparison mixes conditions"
        )
    metrics = validate_showers(
        reference,
        generated,
        geometry,
        settings,
        seed,
        simulator_showers_per_s=mean_simulation_speed(simulate_timings),
        generator_showers_per_s=read_json(generate_timing)["showers_per_second"],
        independent_reference=independent,
    )
    metrics["model"] = model
    sampling = read_json(generate_timing).get("sampling")
    if sampling:  # CaloINN's temperature (and its validation-split scan): the report's table shows it
        metrics["sampling"] = sampling
        metrics["summary"]["sampling_temperature"] = sampling["temperature"]
    metrics["conditions_matched"] = bool(same_conditions)
    metrics["provenance"] = make_provenance(
        "calo_validate", settings, seed=seed, inputs=[reference_h5, independent_h5, generated_h5]
    )
    written = plot_validation(
        reference,
        generated,
        geometry,
        Path(out_metrics).parent,
        labels=("simulation (test set)", model),
        settings=settings,
    )
    missing = [name for name, path in out_figures.items() if Path(written.get(name, "")) != Path(path)]
    if missing:
        raise RuntimeError(f"validation did not write the figure(s) {missing} the rule declares")
    write_json(out_metrics, metrics)
    return metrics
