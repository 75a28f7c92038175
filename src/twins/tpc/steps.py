"""The TPC twin's rules as functions: one per rule of workflow/rules/tpc.smk, file wiring only.

Every step has the signature `step(inputs, outputs, params, threads)` (twins.core.steps): inputs and outputs are
the rule's named files, params its config slice, the seed and the wildcards it needs.

Each rule runs in its own env (envs/): the simulation env has no torch, pandas or matplotlib and the torch and
report envs no uproot, so a step imports the models, figures and report modules only when it runs.
"""

from __future__ import annotations

import logging

import numpy as np

from twins.core.io import get_provenance, read_json, write_json
from twins.core.provenance import make_provenance
from twins.core.seeding import derive_seed
from twins.tpc import io, metrics
from twins.tpc.detector import detector_from_dict, load_detector
from twins.tpc.encoding import ENCODED, split_and_encode
from twins.tpc.padrow import simulate_segments
from twins.tpc.tracks import chunk_segments

log = logging.getLogger(__name__)


def simulate(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule tpc_simulate: one chunk of segments from helices and their detailed responses, with its own derived
    seed. inputs: detector (YAML); outputs: segments (ROOT), timing (JSON, the response simulation's seconds);
    params: simulate (tpc.simulate), seed, chunk."""
    settings, seed, chunk = params["simulate"], int(params["seed"]), int(params["chunk"])
    detector = load_detector(inputs["detector"])
    n = chunk_segments(settings["segments"], settings["chunks"], chunk)
    chunk_seed = derive_seed(seed, "tpc", "simulate", chunk)
    segments, responses, seconds = simulate_segments(n, detector, settings, np.random.default_rng(chunk_seed))
    record = make_provenance(
        "tpc_simulate", settings, seed=chunk_seed, inputs=[inputs["detector"]], master_seed=seed, chunk=chunk
    )
    io.write_segments_root(outputs["segments"], responses, segments, detector.to_dict(), record)
    write_json(outputs["timing"], {"segments": n, "seconds": seconds, "segments_per_second": n / seconds})
    log.info("chunk %d: %d segments in %.2f s (%.0f segments/s)", chunk, n, seconds, n / seconds)


def convert(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule tpc_convert: merge the simulation chunks into one HDF5 file of responses and features.
    inputs: segments (list of ROOT chunks); outputs: segments (HDF5); params: convert (tpc.convert)."""
    settings, root_files = params["convert"], list(inputs["segments"])
    data = io.read_root_chunks(root_files, int(settings["step_size"]))
    record = make_provenance("tpc_convert", settings, inputs=root_files, upstream=data["upstream"])
    io.write_segments_h5(
        outputs["segments"], {"response": data["response"], "features": data["features"]}, data["detector"], record
    )
    log.info("wrote %d segments from %d ROOT files to %s", len(data["response"]), len(root_files), outputs["segments"])


def preprocess(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule tpc_preprocess: seeded train/validation/test splits with log responses and encoded features.
    inputs: segments (HDF5); outputs: train, validation, test (HDF5); params: preprocess, seed."""
    settings, seed = params["preprocess"], int(params["seed"])
    data = io.read_segments_h5(inputs["segments"])
    detector = detector_from_dict(data["detector"], str(inputs["segments"]))
    parts, scales = split_and_encode(
        data["response"], data["features"], io.feature_columns(data), detector, settings, seed
    )
    upstream = get_provenance(inputs["segments"])
    for split, arrays in parts.items():
        record = make_provenance(
            "tpc_preprocess", settings, seed=seed, inputs=[inputs["segments"]], split=split, upstream=upstream
        )
        io.write_segments_h5(
            outputs[split],
            arrays,
            data["detector"],
            record,
            columns={"encoded": list(ENCODED)},
            attrs={"scales": scales},
        )
        log.info("%s: %d segments", split, len(arrays["response"]))


def train(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule tpc_train: the conditional WGAN-GP of one variant, resumable, and its loss figure.
    inputs: train, validation (HDF5); outputs: model, history (CSV), losses (PNG);
    params: train (tpc.train), seed, device, variant, checkpoint (kept between reruns, not an output)."""
    from twins.tpc.figures import plot_losses
    from twins.tpc.models import get_model

    get_model(params["variant"]).train(
        inputs["train"],
        inputs["validation"],
        params["train"],
        int(params["seed"]),
        params["device"],
        params["checkpoint"],
        outputs["model"],
        outputs["history"],
        threads,
    )
    plot_losses(outputs["history"], outputs["losses"])


def generate(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule tpc_generate: responses of a trained variant at the test set's features, with the throughput.
    inputs: model, test (HDF5); outputs: responses (HDF5), timing (JSON); params: generate, seed, device, variant."""
    from twins.tpc.models import get_model

    settings, seed = params["generate"], int(params["seed"])
    test = io.read_segments_h5(inputs["test"], ("features", "encoded"))
    responses, timing = get_model(params["variant"]).sample(
        inputs["model"], test["encoded"], settings, seed, params["device"], threads
    )
    record = make_provenance(
        "tpc_generate",
        settings,
        seed=seed,
        inputs=[inputs["model"], inputs["test"]],
        variant=timing["variant"],
        upstream=get_provenance(inputs["test"]),
    )
    io.write_segments_h5(
        outputs["responses"], {"response": responses, "features": test["features"]}, test["detector"], record
    )
    write_json(outputs["timing"], timing)
    log.info(
        "%s: %d responses at %.4g segments/s on %s",
        timing["variant"],
        timing["segments"],
        timing["segments_per_second"],
        timing["device"],
    )


def validate(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule tpc_validate: moment profiles and chi^2 of one variant against the simulation, the floor from an
    independent simulated sample, and the speed ratio. inputs: reference (test split), independent (validation
    split), generated (HDF5), simulate_timing (list of JSON), generate_timing (JSON); outputs: profiles, moments,
    examples (PNG), metrics (JSON); params: validate (tpc.validate), variant."""
    from twins.tpc import figures

    settings, variant = params["validate"], params["variant"]
    ref, ind, gen = (io.read_segments_h5(inputs[k]) for k in ("reference", "independent", "generated"))
    io.require_same_segments(gen, ref, inputs["generated"], inputs["reference"])
    n_bins = int(settings["n_bins"])
    comparison = metrics.compare_responses(
        {"response": ref["response"], "features": io.feature_columns(ref)},
        {"response": ind["response"], "features": io.feature_columns(ind)},
        gen["response"],
        n_bins,
    )
    simulate_timings = list(inputs["simulate_timing"])
    summary = metrics.summary(
        comparison,
        metrics.simulator_rate(io.read_timings(simulate_timings)),
        read_json(inputs["generate_timing"])["segments_per_second"],
    )
    record = make_provenance(
        "tpc_validate",
        settings,
        inputs=[inputs["reference"], inputs["independent"], inputs["generated"], inputs["generate_timing"]]
        + simulate_timings,
    )
    result = {"variant": variant, "segments": len(ref["response"]), "summary": summary, "provenance": record}
    result["profiles"] = metrics.profile_chi2_record(comparison)
    figures.plot_profiles(comparison["table"], outputs["profiles"], variant)
    moments = (comparison["reference_moments"], comparison["generated_moments"])
    figures.plot_moment_distributions(*moments, n_bins * 4, outputs["moments"], variant)
    n_examples = int(settings["n_examples"])
    figures.plot_examples(
        ref["response"], gen["response"], io.feature_columns(ref), n_examples, outputs["examples"], variant
    )
    write_json(outputs["metrics"], result)
    log.info(
        "%s: chi2/ndf %.3g (Fast4 conditions), %.3g (all); speed ratio %.3g",
        variant,
        summary["chi2_ndf_fast4_conditions"],
        summary["chi2_ndf_all_conditions"],
        summary["speed_ratio"],
    )


def report(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule tpc_report: the chi^2 table of every variant beside the floor (HTML and CSV) and the Fast4/Fast6
    comparison figure. inputs: metrics (list of JSON, in the order of params variants); outputs: table (HTML),
    csv, comparison (PNG); params: variants."""
    from twins.tpc.figures import plot_comparison
    from twins.tpc.report import chi2_frame, write_report

    frame = chi2_frame({v: read_json(p) for v, p in zip(params["variants"], inputs["metrics"])})
    write_report(frame, outputs["table"], outputs["csv"])
    plot_comparison(frame, outputs["comparison"])
