"""The calorimeter twin's steps, one per rule of workflow/rules/calo.smk: file wiring only.

Every step has the signature step(inputs, outputs, params, threads) of twins.core.steps: the rule's named input
and output files, its params (the config slice, the seed, and the wildcards and resources the step needs) and
its thread count. The physics, the generators and the metrics live in the modules these steps call.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from twins.core.io import read_json, write_json
from twins.core.provenance import make_provenance

# Each step imports what it calls inside its body: every rule runs in its own env (envs/), which holds what
# that step needs (calo_simulate no torch, calo_validate no uproot), and a rule script imports this module.

log = logging.getLogger(__name__)


def simulate(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule calo_simulate: chunk params["chunk"] of calo.simulate.events, with its own seed derived from the
    master seed; inputs: geometry (YAML); outputs: showers (ROOT), timing (JSON, the simulator's wall time)."""
    from twins.calo.geometry import load_geometry
    from twins.calo.io import write_showers_root
    from twins.calo.simulators import chunk_events, simulate_showers
    from twins.core.seeding import derive_seed

    settings, seed, chunk = params["simulate"], params["seed"], int(params["chunk"])
    geometry = load_geometry(inputs["geometry"])
    n_events = chunk_events(settings["events"], settings["chunks"], chunk)
    chunk_seed = derive_seed(seed, "calo", "simulate", chunk)
    started = time.perf_counter()
    sample = simulate_showers(geometry, settings, n_events, np.random.default_rng(chunk_seed))
    seconds = time.perf_counter() - started
    record = make_provenance(
        "calo_simulate", settings, seed=chunk_seed, inputs=[inputs["geometry"]], master_seed=seed, chunk=chunk
    )
    write_showers_root(outputs["showers"], sample, geometry.to_dict(), record)
    timing = {"backend": settings["backend"], "showers": n_events, "seconds": seconds}
    write_json(outputs["timing"], {**timing, "showers_per_second": n_events / seconds})
    log.info("chunk %d: %d showers in %.1f s (%.0f showers/s)", chunk, n_events, seconds, n_events / seconds)


def convert(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule calo_convert: the simulator's ROOT chunks, or external Geant4 ROOT files through the mapping of
    calo.convert.external (source: external), into one shower HDF5 file; the chunks' timing records into one
    JSON list (empty for external files)."""
    from twins.calo.external_root import import_external_root
    from twins.calo.io import convert_root_to_hdf5

    settings = params["convert"]
    if settings["source"] == "external":
        mapping = {k: v for k, v in settings["external"].items() if k != "files"}
        import_external_root(inputs["showers"], mapping, outputs["showers"], settings)
    else:
        convert_root_to_hdf5(inputs["showers"], outputs["showers"], settings)
    # one file for calo_validate, so the chunk files may go once converted
    write_json(outputs["timing"], [read_json(path) for path in inputs["timing"]])


def preprocess(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule calo_preprocess: readout threshold, model-space transform and conditions, and the seeded
    train/validation/test split of the converted showers, one file per split."""
    from twins.calo.io import SHOWER_DATASETS, read_geometry_attr, write_training_split
    from twins.calo.showers import split_showers
    from twins.calo.transform import ShowerTransform
    from twins.core.io import read_datasets

    settings = dict(params["preprocess"])
    fractions = settings.pop("split")
    transform = ShowerTransform.from_settings(settings)
    data = read_datasets(inputs["showers"], SHOWER_DATASETS)
    arrays = transform.training_arrays(data["showers"], data["energy"], data["theta"], data["pdg"])
    parts = split_showers(len(data["showers"]), fractions, np.random.default_rng(params["seed"]))
    geometry = read_geometry_attr(inputs["showers"])
    record = make_provenance(
        "calo_preprocess", {**settings, "split": fractions}, seed=params["seed"], inputs=[inputs["showers"]]
    )
    for split, index in parts.items():
        part = {name: values[index] for name, values in arrays.items()}
        write_training_split(outputs[split], part, transform, geometry, split, record)
        log.info("%s: %d showers -> %s", split, len(index), outputs[split])


def train(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule calo_train: train the generator params["model"] (twins.calo.models), resuming from
    params["checkpoint"]; params["gpus"]: the GPUs the job holds."""
    from twins.calo import models

    models.train_model(
        params["model"],
        train_h5=inputs["train"],
        validation_h5=inputs["validation"],
        settings=params["train"],
        seed=params["seed"],
        device=params["device"],
        checkpoint_path=params["checkpoint"],
        out_model=outputs["model"],
        out_history=outputs["history"],
        out_losses_png=outputs["losses"],
        gpus=int(params["gpus"]),
        threads=threads,
    )


def generate(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule calo_generate: sample the trained params["model"] at the test set's conditions (or the grid of
    calo.generate); outputs: showers (HDF5, GeV) and timing (JSON: throughput and CaloINN's sampling record)."""
    from twins.calo import models
    from twins.calo.io import read_geometry_attr, read_showers_h5, write_showers_h5
    from twins.calo.primaries import generation_conditions
    from twins.calo.showers import ShowerSample

    settings, model = params["generate"], params["model"]
    reference = read_showers_h5(inputs["test"])
    energy, theta, pdg = generation_conditions(reference, settings)
    generated = models.sample(
        model, inputs["model"], energy, theta, settings, params["seed"], params["device"], inputs["validation"]
    )
    used = [inputs["model"], inputs["test"]] + ([inputs["validation"]] if generated.sampling.get("scan") else [])
    record = make_provenance("calo_generate", settings, seed=generated.seed, inputs=used)
    sample = ShowerSample(generated.cells, energy, theta, pdg)
    write_showers_h5(outputs["showers"], sample, read_geometry_attr(inputs["test"]), record)
    timing = {"showers": len(energy), "showers_per_second": generated.showers_per_second, "device": params["device"]}
    write_json(outputs["timing"], {**timing, **({"sampling": generated.sampling} if generated.sampling else {})})
    log.info("generated %d showers at %.0f showers/s", len(energy), generated.showers_per_second)


def validate(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule calo_validate: params["model"]'s showers against the simulated test set (and the validation split,
    an independent simulation, as the floor); outputs: metrics (JSON) and one PNG per figure name."""
    from twins.calo.figures import plot_validation
    from twins.calo.geometry import geometry_from_dict
    from twins.calo.io import read_geometry_attr, read_showers_h5
    from twins.calo.metrics import simulation_speed, validate_showers

    settings, model = params["validate"], params["model"]
    reference = read_showers_h5(inputs["reference"])
    generated = read_showers_h5(inputs["generated"])
    geometry = geometry_from_dict(read_geometry_attr(inputs["reference"]))
    same_conditions = len(reference) == len(generated) and np.allclose(reference.energy, generated.energy)
    if not same_conditions:
        log.warning(
            "generated showers are not at the test set's conditions (calo.generate.conditions != test); "
            "the comparison mixes conditions"
        )
    generate_timing = read_json(inputs["generate_timing"])
    metrics = validate_showers(
        reference,
        generated,
        geometry,
        settings,
        params["seed"],
        simulator_showers_per_s=simulation_speed(read_json(inputs["simulate_timing"])),
        generator_showers_per_s=generate_timing["showers_per_second"],
        independent_reference=read_showers_h5(inputs["independent"]),
        threads=threads,
    )
    metrics["model"] = model
    if generate_timing.get("sampling"):  # CaloINN's temperature (and its validation-split scan): the report shows it
        metrics["sampling"] = generate_timing["sampling"]
        metrics["summary"]["sampling_temperature"] = generate_timing["sampling"]["temperature"]
    metrics["conditions_matched"] = bool(same_conditions)
    used = [inputs["reference"], inputs["independent"], inputs["generated"]]
    metrics["provenance"] = make_provenance("calo_validate", settings, seed=params["seed"], inputs=used)
    figures = {name: path for name, path in outputs.items() if name != "metrics"}
    written = plot_validation(
        reference,
        generated,
        geometry,
        Path(outputs["metrics"]).parent,
        ("simulation (test set)", model),
        settings=settings,
    )
    missing = [name for name, path in figures.items() if Path(written.get(name, "")) != Path(path)]
    if missing:
        raise RuntimeError(f"validation did not write the figure(s) {missing} the rule declares")
    write_json(outputs["metrics"], metrics)


def report(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule calo_report: every model's metrics (params["models"], in the order of inputs["metrics"]) in one
    table: outputs table (HTML page) and csv."""
    from twins.calo.report import write_metrics_table

    metrics = {model: read_json(path) for model, path in zip(params["models"], inputs["metrics"])}
    write_metrics_table(metrics, outputs["table"], outputs["csv"])
