"""Data reduction of a whole observation: flag RFI channels, cut and normalise frames, classify every frame,
keep the frames labelled pulse (the reduced data product), and summarise (reduction factor = all frames /
kept frames)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from twins.pulsar import CLASSES
from twins.pulsar.filterbank import Filterbank
from twins.pulsar.flagging import flag_channels, mask_channels
from twins.pulsar.frames import FrameGeometry, cut_frames, frame_coordinates
from twins.pulsar.models.frame_classifier.classify import decide_labels, decision_thresholds, predict_probabilities
from twins.pulsar.normalisation import normalise_frames


@dataclass
class ClassifiedObservation:
    """Every frame of an observation classified. raw: (n, size, size) downsampled counts; probabilities and
    labels (n, 3); kept: indices of the frames labelled pulse; coordinates: (start time s, top band MHz), (n,)
    each; flags: (nchans,) flagged channels; seconds: wall time of each stage."""

    geometry: FrameGeometry
    raw: np.ndarray
    probabilities: np.ndarray
    labels: np.ndarray
    thresholds: np.ndarray
    kept: np.ndarray
    coordinates: tuple[np.ndarray, np.ndarray]
    flags: np.ndarray
    masked: bool
    seconds: dict


def classify_observation(
    fb: Filterbank,
    model: nn.Module,
    meta: dict,
    settings: dict,
    preprocess: dict,
    flagging: dict,
    downsample: dict | None = None,
    threads: int = 2,
) -> ClassifiedObservation:
    """Run the classifier (and its model file's `meta`) over the whole of `fb`. `settings`: pulsar.generate;
    `downsample` ({time_downsample, freq_downsample}) overrides the model's for files of another
    channelisation (the frame size is the model's). With settings['mask_flagged_channels'] the channels
    flagged from the whole observation's statistics are zeroed in the normalised frames before
    classification (labels then describe the cleaned frames). Frames are cut with channel 0 the highest
    frequency, the order the classifier learnt (`fb.in_descending_order()`: the data themselves for a
    file in that order); the flags and the frames' top-band frequencies refer to that order."""
    torch.set_num_threads(threads)
    fb = fb.in_descending_order()
    geometry = FrameGeometry.from_config({**meta["frames"], **(downsample or {})})
    flags, _ = flag_channels(fb.data, flagging["statistics"], flagging["threshold"])
    started = time.perf_counter()
    raw = cut_frames(fb.data, geometry)
    cut_s = time.perf_counter() - started
    normalised = normalise_frames(raw, preprocess["smooth_channels"], preprocess["clip_sigma"], threads=threads)
    masked = bool(settings["mask_flagged_channels"])
    if masked:
        mask_channels(normalised, flags, geometry)
    norm_s = time.perf_counter() - started - cut_s
    probabilities = predict_probabilities(model, normalised, settings["batch_size"])
    classify_s = time.perf_counter() - started - cut_s - norm_s
    thresholds = decision_thresholds(meta, settings["threshold"])
    labels = decide_labels(probabilities, thresholds)
    return ClassifiedObservation(
        geometry=geometry,
        raw=raw,
        probabilities=probabilities,
        labels=labels,
        thresholds=thresholds,
        kept=np.flatnonzero(labels[:, 0]),
        coordinates=frame_coordinates(fb.data.shape[0], fb.frequencies_mhz, fb.tsamp, geometry),
        flags=flags,
        masked=masked,
        seconds={"cut_downsample": cut_s, "normalise": norm_s, "classify": classify_s},
    )


def reduction_summary(result: ClassifiedObservation, fb: Filterbank, observation: str, fil: str, threads: int) -> dict:
    """The generate step's summary: frame counts, reduction factor, label counts, flagged channels, timings."""
    n, kept, labels = len(result.labels), len(result.kept), result.labels
    return {
        "observation": observation,
        "file": str(fil),
        "header": fb.header,
        "geometry": vars(result.geometry),
        "thresholds": result.thresholds.tolist(),
        "masked_flagged_channels": result.masked,
        "frames": n,
        "frames_kept": int(kept),
        "kept_fraction": kept / n,
        "reduction_factor": n / max(kept, 1),
        "reduction_factor_is_lower_bound": kept == 0,
        "label_counts": dict(zip(CLASSES, labels.sum(axis=0).tolist())),
        "none_frames": int((labels.sum(axis=1) == 0).sum()),
        "channel_flags": np.flatnonzero(result.flags).tolist(),
        "channels_flagged": int(result.flags.sum()),
        "seconds": result.seconds,
        "observation_seconds": fb.data.shape[0] * fb.tsamp,
        "threads": threads,
    }
