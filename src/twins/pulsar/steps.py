"""The pulsar twin's steps, one per rule of workflow/rules/pulsar.smk: file wiring only.

Every step has the signature step(inputs, outputs, params, threads) of twins.core.steps: the rule's named input
and output files, its params (the config slice, the seed, and the wildcards the step needs) and its thread
count. The physics (pulsar_dt, rfi_gen, truth, frames, normalisation, flagging, training_sets, reduction), the
classifier (models) and the metrics live in the modules these steps call. The generators, the classifier, its
metrics and the figures are imported inside the steps that use them: the data steps start without torch or
matplotlib.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from twins.core.io import read_datasets, read_json, write_json
from twins.core.provenance import make_provenance
from twins.core.seeding import derive_seed
from twins.pulsar import io
from twins.pulsar.frames import FrameGeometry, cut_frames
from twins.pulsar.normalisation import normalise_frames
from twins.pulsar.telescope import load_telescope
from twins.pulsar.training_sets import training_parts

log = logging.getLogger(__name__)


def _classifier():
    """The frame classifier (twins.pulsar.models): imported by the steps that use it only, so that the data
    steps start without torch."""
    from twins.pulsar import models

    return models.get_model()


def simulate(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule pulsar_simulate: dataset params["name"] with its generator (pulsar_dt or rfi_gen) and its own seed;
    inputs: telescope (preset YAML); outputs: fil (filterbank), truth (HDF5), summary (JSON)."""
    from twins.pulsar import pulsar_dt, rfi_gen

    name, settings, seed = params["name"], params["dataset"], params["seed"]
    geometry = FrameGeometry.from_config(params["frames"])
    telescope = load_telescope(inputs["telescope"])
    rng = np.random.default_rng(derive_seed(seed, "pulsar", "simulate", name))
    started = time.perf_counter()
    header = telescope.header(source_name=f"{settings['generator']}_{name}")
    with io.simulation_files(outputs["fil"], outputs["truth"], header, telescope.nchans) as files:
        if settings["generator"] == "pulsar_dt":
            truth = pulsar_dt.simulate_observation(
                rng, settings, telescope, geometry, params["labelling"], files.write_spectra
            )
        else:
            truth = rfi_gen.simulate_frames(rng, settings, telescope, geometry, files.write_spectra)
        attrs = {
            "frame_size": geometry.size,
            "time_downsample": geometry.time_downsample,
            "freq_downsample": geometry.freq_downsample,
            "generator": settings["generator"],
        }
        config = {"dataset": settings, "frames": params["frames"], "labelling": params["labelling"]}
        files.write_truth(truth, attrs, make_provenance("pulsar_simulate", config, seed, dataset=name))
    summary = {
        **truth.summary,
        "seconds": time.perf_counter() - started,
        "dataset": name,
        "generator": settings["generator"],
    }
    log.info("simulated %s: %s", name, summary)
    write_json(outputs["summary"], summary)


def convert(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule pulsar_convert: cut a simulated filterbank into frames and attach its truth; inputs: fil, truth;
    outputs: frames (HDF5)."""
    geometry = FrameGeometry.from_config(params["frames"])
    fb = io.read_observation(inputs["fil"])
    truth = io.read_frame_truth(inputs["truth"], geometry)
    frames = cut_frames(fb.data, geometry)
    if len(frames) != len(truth["labels"]):
        raise ValueError(
            f"{inputs['fil']}: {len(frames)} frames but {inputs['truth']} labels {len(truth['labels'])}; "
            "rerun pulsar_simulate"
        )
    provenance = make_provenance("pulsar_convert", params["frames"], inputs=[inputs["fil"], inputs["truth"]])
    io.write_frames(outputs["frames"], frames, fb, geometry, truth, provenance)
    log.info("%s: %d frames of %s", inputs["fil"], len(frames), geometry)


def preprocess(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule pulsar_preprocess: normalise dataset params["name"]'s frames, split them by scan and balance the
    training part; inputs: frames; outputs: train, validation, test (HDF5)."""
    settings, seed, name = params["preprocess"], params["seed"], params["name"]
    data = read_datasets(inputs["frames"], ("frames", *io.FRAME_TRUTH))
    rng = np.random.default_rng(derive_seed(seed, "pulsar", "preprocess", name))
    normalised = normalise_frames(data["frames"], settings["smooth_channels"], settings["clip_sigma"], threads=threads)
    summary = {}
    for part, rows in training_parts(data["frame_scan"], data["labels"], settings, rng).items():
        provenance = make_provenance("pulsar_preprocess", settings, seed, inputs=[inputs["frames"]], split=part)
        io.write_split(outputs[part], normalised, data, rows, provenance)
        summary[part] = {"frames": int(len(rows)), "class_counts": data["labels"][rows].sum(axis=0).tolist()}
    log.info("%s: %s", name, summary)


def train(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule pulsar_train: train model params["model"] on its dataset's train split, monitored on validation,
    resuming from params["checkpoint"]; outputs: model (model file), history (CSV), losses (PNG)."""
    from twins.pulsar import figures

    _classifier().train(
        train_h5=inputs["train"],
        validation_h5=inputs["validation"],
        settings=params["train"],
        frames=params["frames"],
        seed=params["seed"],
        device=params["device"],
        checkpoint_path=params["checkpoint"],
        out_model=outputs["model"],
        out_history=outputs["history"],
        name=params["model"],
    )
    figures.plot_training_losses(outputs["history"], outputs["losses"], params["model"])


def generate(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule pulsar_generate: classify every frame of observation params["observation"] (inputs: fil, a SIGPROC
    filterbank or PSRFITS search-mode file, and model); outputs: labels (HDF5), reduced (HDF5: the pulse frames),
    candidates (CSV), summary (JSON). Channels in descending frequency, as the classifier learnt them."""
    from twins.pulsar.reduction import classify_observation, reduction_summary

    model, meta = _classifier().load(inputs["model"])
    fb = io.read_observation(inputs["fil"]).in_descending_order()
    result = classify_observation(
        fb, model, meta, params["generate"], params["preprocess"], params["flagging"], params["downsample"], threads
    )
    observation = params["observation"]
    provenance = make_provenance(
        "pulsar_generate",
        params["generate"],
        inputs=[inputs["fil"], inputs["model"]],
        observation=observation,
        geometry=vars(result.geometry),
    )
    io.write_frame_labels(
        outputs["labels"], result.probabilities, result.labels, result.coordinates, result.flags, provenance
    )
    io.write_reduced(outputs["reduced"], result.raw, result.kept, result.coordinates, provenance)
    io.write_candidates(outputs["candidates"], result.kept, result.coordinates, result.probabilities)
    summary = reduction_summary(result, fb, observation, inputs["fil"], threads)
    write_json(outputs["summary"], summary)
    log.info(
        "%s: %d frames, %d kept (reduction x%.1f)",
        observation,
        summary["frames"],
        summary["frames_kept"],
        summary["reduction_factor"],
    )


def inject(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule pulsar_inject: background params["name"] (inputs: background, the real file or the telescope preset of
    a simulated stream), for each split (outputs: train, validation, test): the background alone and
    params["candidates"]["realisations"] realisations with injected pulses, each searched, its candidates imaged
    and labelled by the injection truth; each output a candidate set (HDF5, twins.pulsar.io.write_candidate_set)."""
    from twins.pulsar.candidate_sets import build_candidate_set, open_background

    name, seed, settings = params["name"], params["seed"], params["candidates"]
    for split in ("train", "validation", "test"):
        background = open_background(
            name, params["background"], inputs["background"], split, settings["splits"], params["flagging"]
        )

        def rng_for(realisation: int, split=split) -> np.random.Generator:
            return np.random.default_rng(derive_seed(seed, "pulsar", "inject", name, split, realisation))

        built = build_candidate_set(
            background,
            {**settings, "search": params["search"]},
            params["background"].get("realisations", settings["realisations"])[split],
            rng_for,
            threads,
        )
        attrs = {
            "images": settings["images"],
            "header": background.header,
            "start_sample": background.start,
            "dm_max_injected": built["dm_max"],
            "seconds": built["seconds"],
            "side_lobes": built["side_lobes_total"],
            "background": name,
            "split": split,
        }
        provenance = make_provenance(
            "pulsar_inject",
            {"candidates": settings, "search": params["search"], "background": params["background"]},
            seed,
            inputs=[inputs["background"]],
            background=name,
            split=split,
        )
        io.write_candidate_set(outputs[split], built, attrs, provenance)


def train_candidates(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule pulsar_train_candidates: the candidate classifier on every background's train split (inputs: train,
    a list), early-stopped and its threshold chosen on the validation splits (inputs: validation), resuming from
    params["checkpoint"]; outputs: model, history (CSV), losses (PNG)."""
    from twins.pulsar import figures
    from twins.pulsar.models import get_model

    get_model("candidate_classifier").train(
        train_h5=list(inputs["train"]),
        validation_h5=list(inputs["validation"]),
        settings=params["train"],
        seed=params["seed"],
        device=params["device"],
        checkpoint_path=params["checkpoint"],
        out_model=outputs["model"],
        out_history=outputs["history"],
        name="candidates",
    )
    figures.plot_training_losses(outputs["history"], outputs["losses"], "candidate classifier")


def search(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule pulsar_search: search observation params["observation"] (inputs: fil, any SIGPROC or PSRFITS file) to
    pulsar.search's DM range, classify every candidate with the candidate classifier (inputs: model) and keep the
    data around the accepted ones; outputs: candidates (CSV), reduced (HDF5), summary (JSON)."""
    from twins.pulsar.models import get_model
    from twins.pulsar.stream_reduction import search_and_classify, search_summary

    classifier = get_model("candidate_classifier")
    model, meta = classifier.load(inputs["model"])
    fb = io.read_observation(inputs["fil"]).in_descending_order()
    observed = search_and_classify(fb, classifier, model, meta, params["search"], params["classify"], threads)
    observation = params["observation"]
    provenance = make_provenance(
        "pulsar_search",
        {"search": params["search"], "classify": params["classify"]},
        inputs=[inputs["fil"], inputs["model"]],
        observation=observation,
    )
    io.write_search_candidates(outputs["candidates"], observed.candidates)
    io.write_search_reduced(outputs["reduced"], fb, observed, provenance)
    summary = search_summary(observed, fb, observation, inputs["fil"], threads)
    write_json(outputs["summary"], summary)
    log.info(
        "%s: %d candidates, %d accepted, reduction x%.1f, %.1fx real time",
        observation,
        summary["candidates"],
        summary["accepted"],
        summary["reduction_factor"],
        summary["real_time_factor"],
    )


def validate(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule pulsar_validate: model params["model"] on every dataset's test split (inputs: tests, in the order
    of params["datasets"]) and every observation's data reduction (inputs: summaries, params["observations"],
    flagging truth params["masks"]); outputs: metrics (JSON), snr and confusion (PNG)."""
    import torch

    from twins.pulsar import figures
    from twins.pulsar.metrics import (
        confusion_by_combination,
        dataset_metrics,
        observation_metrics,
        real_time,
        throughput,
    )

    classifier = _classifier()
    model, meta = classifier.load(inputs["model"])
    settings, threshold, batch_size = (
        params["validate"],
        params["generate"]["threshold"],
        params["generate"]["batch_size"],
    )
    thresholds = classifier.decision_thresholds(meta, threshold)
    trained_on, seed = params["trained_on"], params["seed"]
    torch.set_num_threads(2)  # the throughput is quoted for 2 threads
    per_dataset, confusion = {}, None
    for name, path in zip(params["datasets"], inputs["tests"]):
        d = read_datasets(path, ("frames", "labels", "snr"))
        probabilities = classifier.predict(model, d["frames"], batch_size)
        per_dataset[name] = dataset_metrics(
            d["labels"], d["snr"], probabilities, thresholds, settings["snr_bins"], in_domain=name == trained_on
        )
        if name == trained_on:
            confusion = confusion_by_combination(d["labels"], classifier.decide_labels(probabilities, thresholds))
    observations = {
        obs: observation_metrics(
            read_json(path), io.read_channel_mask(params["masks"][obs]) if params["masks"].get(obs) else None
        )
        for obs, path in zip(params["observations"], inputs["summaries"])
    }
    speed = throughput(model, int(meta["frames"]["size"]), settings["throughput_frames"], batch_size, 2, seed)
    metrics = {
        "model": params["model"],
        "trained_on": trained_on,
        "geometry": meta["frames"],
        "thresholds": thresholds.tolist(),
        "threshold_choice": meta.get("threshold_choice", {}) if threshold == "validation" else {"rule": "fixed"},
        "datasets": per_dataset,
        "observations": observations,
        "throughput": real_time(speed, meta["frames"], settings["stream"]),
    }
    if confusion is not None:
        metrics["confusion"] = {"labels": confusion[0], "matrix": confusion[1].tolist()}
    write_json(outputs["metrics"], metrics)
    curves = {name: entry["accuracy_vs_snr"] for name, entry in per_dataset.items()}
    figures.plot_recall_vs_snr(
        curves, trained_on, params["model"], outputs["snr"], per_dataset.get(trained_on), float(thresholds[0])
    )
    figures.plot_confusion(confusion, params["model"], outputs["confusion"])


def _best_examples(sets: dict, decisions: dict, count: int = 4) -> list[dict]:
    """Images of the most probable pulse and the most probable non-pulse candidates of the test splits."""
    rows = []
    for name, data in sets.items():
        p, table = decisions[name][0], data["candidates"]
        for i in np.argsort(-p)[: 2 * count]:
            kind = "pulse" if table["label"].iloc[i] else "RFI/noise"
            rows.append((p[i], kind, name, i))
    chosen = sorted((r for r in rows if r[1] == "pulse"), reverse=True)[: count - 1]
    chosen += sorted((r for r in rows if r[1] != "pulse"), reverse=True)[:1]
    examples = []
    for p, kind, name, i in chosen:
        row = sets[name]["candidates"].iloc[i]
        title = f"{name} {kind}: DM {row['dm']:.0f}, S/N {row['snr']:.1f}, P {p:.3f}"
        examples.append({"title": title, "ft": sets[name]["ft"][i], "dmt": sets[name]["dmt"][i]})
    return examples


def _pulses_found(table, header: dict, truth_path: str, stream_path: str) -> dict:
    """A simulated observation's pulses found, counted at S/N >= 7 measured on its stream at the true DM and
    width with the RFI truth's pixels left out (the targets' S/N; `chain`, `search`) and at the simulator's
    nominal S/N (`*_injected_snr`)."""
    from twins.pulsar.pulsar_dt import BB_BIT, NB_BIT
    from twins.pulsar.search_metrics import pulses_found, truth_pulses, truth_stream_snrs
    from twins.pulsar.stream import read_samples, stream_header

    RFI_BITS = NB_BIT | BB_BIT
    truth = read_datasets(truth_path, ("pulses", "scans", "pixel_mask"))
    pulses = truth_pulses(truth["pulses"], truth["scans"])
    _, nsamples = stream_header(stream_path)
    pulses["snr_stream"] = truth_stream_snrs(
        lambda start, count: read_samples(stream_path, start, count),
        header,
        pulses,
        nsamples,
        lambda start, count: (truth["pixel_mask"][start : start + count] & RFI_BITS) > 0,  # RFI is not pulse
    )
    found = pulses_found(table, pulses, header, None, 7.0, snr="snr_stream")
    nominal = pulses_found(table, pulses, header, None, 7.0, snr="snr")
    found.update(search_injected_snr=nominal["search"], chain_injected_snr=nominal["chain"])
    return found


def validate_search(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule pulsar_validate_search: the candidate classifier (inputs: model) on every background's test split
    (inputs: tests, in the order of params["backgrounds"]): recall against injected S/N and false alarms; every
    observation's search (inputs: summaries, candidates, in the order of params["observations"]): reduction,
    real-time factor, false alarms in the real files' unseen ranges (params["test_ranges"]) and the pulses of
    the simulated ones found (inputs: truths and streams, params["truth_observations"]); outputs: metrics (JSON),
    recall, candidates and images (PNG)."""
    import pandas as pd

    from twins.pulsar import figures
    from twins.pulsar.models import get_model
    from twins.pulsar.search_metrics import injection_metrics, observation_false_alarms

    classifier = get_model("candidate_classifier")
    model, meta = classifier.load(inputs["model"])
    classify, bins = params["classify"], params["validate"]["snr_bins"]
    sets, decisions, per_background = {}, {}, {}
    for name, path in zip(params["backgrounds"], inputs["tests"]):
        data = io.read_candidate_set(path)
        p = classifier.predict(model, data["ft"], data["dmt"], data["candidates"]["snr"].to_numpy(np.float32))
        accepted = classifier.decide(p, meta, classify["threshold"]) if len(p) else np.zeros(0, bool)
        sets[name], decisions[name] = data, (p, accepted)
        per_background[name] = injection_metrics(data, accepted, bins)
    observations, tables = {}, {}
    truths = dict(zip(params["truth_observations"], zip(inputs["truths"], inputs["streams"])))
    for name, summary_path, table_path in zip(params["observations"], inputs["summaries"], inputs["candidates"]):
        summary, table = read_json(summary_path), pd.read_csv(table_path)
        tables[name] = table
        entry = {k: summary[k] for k in ("candidates", "accepted", "reduction_factor", "real_time_factor")}
        entry.update(kept_fraction=summary["kept_fraction"], dm_max_searched=summary["dm_max_searched"])
        if name in params["test_ranges"]:
            entry["false_alarms_unseen_range"] = observation_false_alarms(table, summary, params["test_ranges"][name])
        if name in truths:
            entry["pulses_found"] = _pulses_found(table, summary["header"], *truths[name])
        observations[name] = entry
    metrics = {
        "threshold": meta["threshold"],
        "threshold_choice": meta["threshold_choice"],
        "backgrounds": per_background,
        "observations": observations,
    }
    write_json(outputs["metrics"], metrics)
    figures.plot_search_recall(per_background, outputs["recall"])
    figures.plot_search_candidates(tables, outputs["candidates"])
    figures.plot_candidate_images(_best_examples(sets, decisions), outputs["images"])


def report(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None:
    """Rule pulsar_report: the metrics table over models (inputs: metrics, in the order of params["models"])
    as HTML and CSV with the stream search's tables (inputs: search), and example frames per class from one test
    split (inputs: examples)."""
    from twins.pulsar import figures
    from twins.pulsar.report import write_report_table

    metrics = {model: read_json(path) for model, path in zip(params["models"], inputs["metrics"])}
    search = read_json(inputs["search"]) if inputs.get("search") else None  # the frame part alone: no search
    write_report_table(metrics, outputs["table"], outputs["csv"], search)
    examples = read_datasets(inputs["examples"], ("frames", "labels", "snr"))
    figures.plot_example_frames(
        examples["frames"], examples["labels"], examples["snr"], outputs["examples"], seed=params["seed"]
    )
