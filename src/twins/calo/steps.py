"""File-level entry points of the calorimeter rules: read inputs, call the physics/model code, write outputs.

Each function knows nothing of Snakemake; the rule scripts only unpack `snakemake` and call one of these.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from twins.calo.geometry import geometry_from_dict, load_geometry
from twins.calo.io import read_geometry_attr, read_showers_h5, write_showers_h5, write_showers_root
from twins.calo.showers import ShowerSample
from twins.core.io import read_json, write_json
from twins.core.provenance import make_provenance
from twins.core.seeding import derive_seed

log = logging.getLogger(__name__)

MODELS = ("gan3d",)


def chunk_events(total: int, chunks: int, chunk: int) -> int:
    """Events of one chunk: `total` spread over `chunks` jobs, the first ones taking the remainder."""
    if not 0 <= chunk < chunks:
        raise ValueError(f"chunk {chunk} outside 0..{chunks - 1} (calo.simulate.chunks = {chunks})")
    return total // chunks + (1 if chunk < total % chunks else 0)


def simulate_chunk(
    geometry_path: str | Path, settings: dict[str, Any], seed: int, chunk: int, out_root: str | Path,
    out_timing: str | Path,
) -> ShowerSample:
    """Simulate chunk `chunk` of calo.simulate.events with its own derived seed; write ROOT + timing JSON."""
    from twins.calo.simulate import simulate_showers

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
        {"backend": settings["backend"], "showers": n_events, "seconds": seconds,
         "showers_per_second": n_events / seconds},
    )
    log.info("chunk %d: %d showers in %.1f s (%.0f showers/s)", chunk, n_events, seconds, n_events / seconds)
    return sample


def train_model(
    model: str, train_h5: str | Path, validation_h5: str | Path, settings: dict[str, Any], seed: int, device: str,
    checkpoint_path: str | Path, out_model: str | Path, out_history: str | Path, out_losses_png: str | Path,
) -> None:
    """Train the generator named `model` and plot its loss history."""
    from twins.calo.plot_training import plot_history
    from twins.calo.train import train_gan3d

    if model != "gan3d":
        raise ValueError(f"unknown calo model '{model}'; available: {list(MODELS)}")
    train_gan3d(
        train_h5, settings, seed, out_model=out_model, out_history=out_history, checkpoint_path=checkpoint_path,
        device=device, validation_h5=validation_h5,
    )
    plot_history(out_history, out_losses_png)


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
    model_path: str | Path, test_h5: str | Path, settings: dict[str, Any], seed: int, device: str,
    out_h5: str | Path, out_timing: str | Path,
) -> None:
    from twins.calo.generate import generate_showers

    energy, theta, pdg = generation_conditions(test_h5, settings)
    generate_seed = derive_seed(seed, "calo", "generate")
    cells, showers_per_second = generate_showers(
        model_path, energy, theta, batch_size=settings["batch_size"], seed=generate_seed, device=device
    )
    geometry = read_geometry_attr(test_h5)
    record = make_provenance("calo_generate", settings, seed=generate_seed, inputs=[model_path, test_h5])
    write_showers_h5(out_h5, ShowerSample(cells, energy, theta, pdg), geometry, record)
    write_json(out_timing, {"showers": len(energy), "showers_per_second": showers_per_second, "device": device})
    log.info("generated %d showers at %.0f showers/s", len(energy), showers_per_second)


def mean_simulation_speed(timing_paths: Sequence[str | Path]) -> float:
    """Showers per second of the simulator over all chunks (total showers / total seconds)."""
    timings = [read_json(p) for p in timing_paths]
    return sum(t["showers"] for t in timings) / sum(t["seconds"] for t in timings)


def validate_to_files(
    reference_h5: str | Path, generated_h5: str | Path, simulate_timings: Sequence[str | Path],
    generate_timing: str | Path, settings: dict[str, Any], seed: int, out_metrics: str | Path,
    out_figures: dict[str, str | Path], model: str,
) -> dict[str, Any]:
    from twins.calo.validate import plot_validation, validate_showers

    reference = read_showers_h5(reference_h5)
    generated = read_showers_h5(generated_h5)
    geometry = geometry_from_dict(read_geometry_attr(reference_h5))
    same_conditions = len(reference) == len(generated) and np.allclose(reference.energy, generated.energy)
    if not same_conditions:
        log.warning("generated showers are not at the test set's conditions (calo.generate.conditions != test); "
                    "the comparison mixes conditions")
    metrics = validate_showers(
        reference, generated, geometry, settings, seed,
        simulator_showers_per_s=mean_simulation_speed(simulate_timings),
        generator_showers_per_s=read_json(generate_timing)["showers_per_second"],
    )
    metrics["model"] = model
    metrics["conditions_matched"] = bool(same_conditions)
    metrics["provenance"] = make_provenance(
        "calo_validate", settings, seed=seed, inputs=[reference_h5, generated_h5]
    )
    written = plot_validation(reference, generated, geometry, Path(out_metrics).parent,
                              labels=("GFlash simulation", model))
    missing = [name for name, path in out_figures.items() if Path(written.get(name, "")) != Path(path)]
    if missing:
        raise RuntimeError(f"validation did not write the figure(s) {missing} the rule declares")
    write_json(out_metrics, metrics)
    return metrics
