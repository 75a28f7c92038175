"""Data reduction of a whole observation by search, not by frame: search the stream (twins.pulsar.search),
classify every candidate from its images (twins.pulsar.candidates, the candidate classifier) and keep the data
around the accepted ones — each accepted pulse's sweep through the band plus `context_s` on either side — as
the reduced product. Reduction factor = samples of the observation / samples kept.

The search runs chunk by chunk (memory flat in the file's length); the images are cut from the observation in
memory, normalised per channel where they read it (no normalised copy of the stream).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from twins.pulsar.backgrounds import noise_levels
from twins.pulsar.candidates import candidate_images
from twins.pulsar.dispersion import sweep_samples
from twins.pulsar.filterbank import Filterbank
from twins.pulsar.search import SearchResult, search_observation


@dataclass
class SearchedObservation:
    """An observation searched and classified: candidates (search columns + p_pulse, accepted), their images,
    the kept sample ranges [start, stop) (merged, in stream samples), the search result and stage timings."""

    candidates: pd.DataFrame
    ft: np.ndarray
    dmt: np.ndarray
    kept: np.ndarray
    search: SearchResult
    seconds: dict


def kept_ranges(candidates: pd.DataFrame, header: dict, nsamples: int, context_s: float) -> np.ndarray:
    """Merged sample ranges (k, 2) [start, stop) holding each accepted candidate's sweep from the top to the
    bottom of the band, widened by its width and `context_s` on both sides, clipped to the observation."""
    accepted = candidates[candidates["accepted"]]
    if not len(accepted):
        return np.zeros((0, 2), dtype=np.int64)
    pad = int(np.ceil(context_s / float(header["tsamp"])))
    start = accepted["sample"].to_numpy() - accepted["width"].to_numpy() - pad
    stop = accepted["sample"].to_numpy() + sweep_samples(accepted["dm"].to_numpy(), header) + accepted["width"] + pad
    ranges = np.clip(np.stack([start, np.asarray(stop)], axis=1), 0, nsamples)
    ranges = ranges[np.argsort(ranges[:, 0])]
    merged = [ranges[0].tolist()]
    for a, b in ranges[1:]:
        if a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], int(b))
        else:
            merged.append([int(a), int(b)])
    return np.asarray(merged, dtype=np.int64)


def search_and_classify(
    fb: Filterbank,
    classifier,
    model: nn.Module,
    meta: dict,
    search: dict,
    classify: dict,
    threads: int = 2,
) -> SearchedObservation:
    """Search `fb` (pulsar.search settings: its channel flags and clipping chunk by chunk), cut each candidate's
    images with the model's image settings, and accept those whose P(pulse) passes pulsar.candidates.classify's
    threshold. `classifier` is the candidate_classifier module."""
    torch.set_num_threads(threads)
    fb = fb.in_descending_order()
    started = time.perf_counter()
    result = search_observation(fb, search, threads=threads)
    searched = time.perf_counter()
    # the images see the channels the search flagged in any chunk as flagged (no second pass of statistics)
    median, sigma = noise_levels(fb.data, np.asarray(result.excision["channel_flags"], dtype=bool))
    images = meta["images"].get("settings") or {k: meta["images"][k] for k in ("n_freq", "n_time", "n_dm")}
    ft, dmt = candidate_images(fb.data, fb.frequencies_mhz, fb.tsamp, result.candidates, images, (median, sigma))
    imaged = time.perf_counter()
    candidates = result.candidates.reset_index(drop=True)
    p = classifier.predict(model, ft, dmt, candidates["snr"].to_numpy(np.float32), classify["batch_size"])
    accepted = classifier.decide(p, meta, classify["threshold"]) if len(p) else np.zeros(0, dtype=bool)
    candidates = candidates.assign(p_pulse=p, accepted=np.asarray(accepted, dtype=bool))
    kept = kept_ranges(candidates, fb.header, fb.nsamples, classify["context_s"])
    seconds = {
        "search": searched - started,
        "images": imaged - searched,
        "classify": time.perf_counter() - imaged,
        "search_stages": result.timing,
    }
    return SearchedObservation(candidates, ft, dmt, kept, result, seconds)


def search_summary(observed: SearchedObservation, fb: Filterbank, observation: str, path: str, threads: int) -> dict:
    """The search step's summary: candidates, accepted, kept samples, reduction factor, plan, real-time factor."""
    nsamples = fb.nsamples
    kept = int((observed.kept[:, 1] - observed.kept[:, 0]).sum()) if len(observed.kept) else 0
    plan = observed.search.plan.dedispersion
    wall = observed.seconds["search"] + observed.seconds["images"] + observed.seconds["classify"]
    data_s = nsamples * fb.tsamp
    return {
        "observation": observation,
        "file": str(path),
        "header": fb.header,
        "dm_max_searched": float(plan.dms.max()),
        "dm_max_requested": float(plan.dm_max_requested),
        "dm_trials": int(len(plan.dms)),
        "trials_per_level": {str(k): int(v) for k, v in plan.trials_per_level().items()},
        "candidates": int(len(observed.candidates)),
        "accepted": int(observed.candidates["accepted"].sum()) if len(observed.candidates) else 0,
        "samples": int(nsamples),
        "samples_kept": kept,
        "kept_fraction": kept / nsamples,
        "reduction_factor": nsamples / max(kept, 1),
        "reduction_factor_is_lower_bound": kept == 0,
        "clipped_fraction": float(observed.search.excision["clipped_fraction"]),
        "channels_flagged": int(np.asarray(observed.search.excision["channel_flags"]).sum()),
        "seconds": observed.seconds,
        "observation_seconds": data_s,
        "real_time_factor": data_s / max(wall, 1e-9),
        "threads": threads,
    }
