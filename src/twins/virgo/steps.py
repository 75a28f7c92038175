"""The virgo twin's rules, one function each: which files go in, which come out (the work is in the library).

Every step has the signature step(inputs, outputs, params, threads) of twins.core.steps: the rule's named
files, its params (the config slice, seed, device, ...) and its thread count. The network (torch), the figures
(matplotlib) and the report page are imported inside the steps that use them: the data steps start without them.
"""

from __future__ import annotations

import logging

import numpy as np

from twins.core.io import get_provenance, read_json, write_json
from twins.core.provenance import make_provenance
from twins.core.seeding import derive_seed
from twins.virgo import io, metrics
from twins.virgo.denoising import denoised_test_set
from twins.virgo.detector import simulate_detector
from twins.virgo.qtransform import event_qscan
from twins.virgo.segments import segment_set
from twins.virgo.spectrograms import SpectrogramSettings, WitnessChannels, preprocess_segments

log = logging.getLogger(__name__)

MODEL = "glitchflow"  # the one model (rule paths name it: results/virgo/models/glitchflow/)


def simulate(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule virgo_simulate: the detector file (GWOSC-like channels + catalogue) and the catalogue CSV.
    inputs: asd, channels; outputs: detector, catalogue; params: simulate, seed."""
    settings, seed = params["simulate"], params["seed"]
    sim_seed = derive_seed(seed, "virgo", "simulate")
    strain, aux, catalogue, coupled = simulate_detector(settings, inputs["asd"], inputs["channels"], sim_seed)
    record = make_provenance(
        "virgo_simulate", settings, seed=sim_seed, inputs=[inputs["asd"], inputs["channels"]], master_seed=seed
    )
    io.write_detector_file(outputs["detector"], strain, aux, catalogue, coupled, record)
    io.write_csv(outputs["catalogue"], catalogue)
    log.info(
        "wrote %s: %d glitches, %d background slots; coupled: %s",
        outputs["detector"],
        (catalogue.label == "glitch").sum(),
        (catalogue.label == "background").sum(),
        coupled,
    )


def convert(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule virgo_convert: segments around every catalogue entry of the simulated detector file.
    inputs: detector; outputs: segments; params: convert, seed."""
    settings, seed, detector = params["convert"], params["seed"], inputs["detector"]
    strain, aux = io.read_detector(detector)
    catalogue, coupled = io.read_detector_catalogue(detector)
    rng = np.random.default_rng(derive_seed(seed, "virgo", "convert"))
    segments = segment_set(strain, aux, catalogue, coupled, settings, rng)
    record = make_provenance("virgo_convert", settings, seed=seed, inputs=[detector], upstream=get_provenance(detector))
    io.write_segments(outputs["segments"], segments, record)
    log.info("wrote %d segments of %.1f s to %s", len(segments), segments.duration, outputs["segments"])


def preprocess(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule virgo_preprocess: whitening, Q-transforms, ANNALISA selection, split, TFrames.
    inputs: segments; outputs: train, validation, test, asd, ranking (CSV), selection (JSON);
    params: preprocess, seed."""
    settings, seed, segments_h5 = params["preprocess"], params["seed"], inputs["segments"]
    segments = io.read_segments(segments_h5)
    rng = np.random.default_rng(derive_seed(seed, "virgo", "preprocess"))
    result = preprocess_segments(segments, settings, rng)
    upstream = get_provenance(segments_h5)
    base = make_provenance("virgo_preprocess", settings, seed=seed, inputs=[segments_h5], upstream=upstream)
    for name, frame in result.frames.items():
        io.write_tframe(outputs[name], frame, {**base, "split": name})
    io.write_asds(outputs["asd"], result.strain_asd, result.aux_asds, segments.aux_names, base)
    io.write_csv(outputs["ranking"], result.ranking)
    selection = {"selected": result.selected, "coupled_truth": segments.coupled_channels}
    write_json(outputs["selection"], {**selection, "channels": segments.aux_names, "provenance": base})


def train(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule virgo_train: fit GlitchFlow, write its model file, history and loss figure.
    inputs: train, validation; outputs: model, history, losses; params: train, seed, device, checkpoint."""
    from twins.virgo import figures
    from twins.virgo.models import get_model

    history = get_model(MODEL).train(
        inputs["train"],
        inputs["validation"],
        params["train"],
        params["seed"],
        params["device"],
        params["checkpoint"],
        outputs["model"],
        outputs["history"],
        threads,
    )
    figures.training_losses(history, outputs["losses"], params["train"])


def generate(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule virgo_generate: GlitchFlow on the test set, de-noising, and the latency of the online chain.
    inputs: model, test, segments, asd; outputs: generated, timing; params: generate, preprocess, device."""
    import torch

    from twins.core.device import select_device
    from twins.virgo.latency import pipeline_latency
    from twins.virgo.models import get_model

    settings = params["generate"]
    torch.set_num_threads(threads)
    device = select_device(params["device"])
    model_entry = get_model(MODEL)
    model, model_file = model_entry.load(inputs["model"], device)
    test = io.read_tframe(inputs["test"])
    generated = denoised_test_set(test, model_entry.sample(model, test.inputs, settings["batch_size"], device))

    segments = io.read_segments(inputs["segments"])
    strain_asd, aux_asds = io.read_asds(inputs["asd"])
    latency = pipeline_latency(
        model,
        segments,
        strain_asd,
        aux_asds,
        WitnessChannels.of_frame(segments, test),
        SpectrogramSettings.from_config(params["preprocess"]),
        test.meta["segment"].to_numpy()[: settings["latency_segments"]],
        device,
        settings["batch_size"],
    )
    log.info(
        "latency: %.1f s of data per s (%d segments, %d channels)",
        latency["real_time_factor"],
        latency["segments"],
        latency["channels"],
    )
    record = make_provenance(
        "virgo_generate", settings, inputs=[inputs["model"], inputs["test"]], model=model_file.meta["provenance"]
    )
    io.write_generated(outputs["generated"], generated, record)
    write_json(outputs["timing"], {"latency": latency, "device": str(device)})


def validate(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule virgo_validate: veto and de-noising accuracy vs threshold, channel selection, latency.
    inputs: generated, selection, timing; outputs: metrics, curves; params: validate."""
    settings = params["validate"]
    generated = io.read_generated(inputs["generated"])
    thresholds = metrics.curve_thresholds(settings["snr_thresholds"])
    curves = metrics.accuracy_curves(
        generated.real_energy,
        generated.generated_energy,
        generated.residual_energy,
        thresholds,
        settings["min_cluster_pixels"],
    )
    io.write_csv(outputs["curves"], curves)
    record = metrics.validation_metrics(
        curves,
        generated.meta["label"].to_numpy(),
        settings["min_cluster_pixels"],
        read_json(inputs["selection"]),
        read_json(inputs["timing"])["latency"],
    )
    write_json(outputs["metrics"], record)
    log.info("validation: %s", record["accuracy"])


def report(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule virgo_report: example spectrograms, accuracy vs threshold, the summary page.
    inputs: generated, metrics, curves, ranking; outputs: summary, examples, accuracy; params: report."""
    from twins.virgo import figures
    from twins.virgo.report import write_summary

    generated = io.read_generated(inputs["generated"], with_inputs=True)
    figures.examples(generated, params["report"]["n_examples"], outputs["examples"])
    figures.accuracy_vs_threshold(io.read_csv(inputs["curves"], "virgo_validate"), outputs["accuracy"])
    ranking = io.read_csv(inputs["ranking"], "virgo_preprocess")
    write_summary(outputs["summary"], read_json(inputs["metrics"]), ranking)


def qscan(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule virgo_qscan: the whitened constant-Q scan of the real GW150914 strain (figure + peak JSON).
    inputs: gwosc; outputs: qscan (PNG), qscan_json; params: report, preprocess."""
    from twins.virgo import figures

    settings = params["report"]
    scan = event_qscan(io.read_gwosc(inputs["gwosc"]), settings["gwosc_event_gps"], settings, params["preprocess"])
    figures.qscan(scan["gram"], settings["gwosc_event_gps"], outputs["qscan"])
    write_json(outputs["qscan_json"], {key: value for key, value in scan.items() if key != "gram"})
