"""Labelled candidate sets of the candidate classifier (FETCH's recipe): simulated pulses injected into a
background, the stream searched, every candidate cut into its images and labelled by the injection truth.

A background is a real observation's time range (twins.pulsar.backgrounds.time_ranges: train, validation and
test never share a sample) or simulated radiometer-noise streams of a telescope preset with PulsarDT's RFI (a
new stream per realisation: how DMs up to 1000 are tested, whose sweeps no 2 s real file holds). Realisation -1
is the background searched without injections: its candidates are the real noise and RFI, the false alarms a
search of that data would pass to the classifier; realisations 0.. each hold new pulses at new times.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from twins.pulsar import io
from twins.pulsar.backgrounds import noise_levels, simulated_background, time_ranges
from twins.pulsar.candidates import candidate_images
from twins.pulsar.dispersion import header_frequencies, sweep_samples
from twins.pulsar.flagging import flag_channels
from twins.pulsar.injection import draw_injections, fitting_dm_max, inject, normalised_channel_major
from twins.pulsar.matching import match_candidates
from twins.pulsar.search import SearchPlan, plan_search, search_block
from twins.pulsar.telescope import Telescope, load_telescope

log = logging.getLogger(__name__)
NO_INJECTION = -1  # the realisation of the background alone


@dataclass
class Background:
    """Where a split's data come from: `data` (nsamples, nchans) of a real file's time range starting at absolute
    sample `start`, or a `telescope` preset whose `seconds`-long noise streams (with `rfi`) are drawn anew."""

    name: str
    header: dict
    flags: np.ndarray
    data: np.ndarray | None = None
    start: int = 0
    telescope: Telescope | None = None
    seconds: float = 0.0
    rfi: dict | None = None

    noise: tuple[np.ndarray, np.ndarray] | None = None
    normalised: np.ndarray | None = None

    def realisation(self, rng: np.random.Generator) -> np.ndarray:
        """The split's data: a real range (the same every time), or a new simulated stream with its own noise and
        RFI (one stream would give the classifier only a handful of distinct negatives)."""
        if self.telescope is not None:
            self.data = simulated_background(rng, self.telescope, self.seconds, self.rfi)
            self.noise = None
        return self.data

    def noise_levels(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel (median, sigma) of the background without pulses (backgrounds.noise_levels), once."""
        if self.noise is None:
            self.noise = noise_levels(self.data, self.flags)
            self.normalised = normalised_channel_major(self.data, self.noise[1], self.noise[0])
        return self.noise


def open_background(name: str, entry: dict, path: str, split: str, splits: dict, flagging: dict) -> Background:
    """The background of pulsar.candidates.backgrounds.<name> (`entry`) for `split`: a real file (`path`, read
    in descending channel order) cut to the split's time range, with channel flags from that range's statistics
    (pulsar.flagging); or a simulated stream of the telescope preset at `path` (no flags: its RFI is for the
    search to excise)."""
    if "path" in entry:
        fb = io.read_observation(path).in_descending_order()
        start, stop = time_ranges(fb.nsamples, splits)[split]
        data = fb.data[start:stop]
        flags, _ = flag_channels(data, flagging["statistics"], flagging["threshold"])
        return Background(name, dict(fb.header, nsamples=stop - start), np.asarray(flags, bool), data, start)
    telescope = load_telescope(path)
    header = telescope.header(source_name=f"background_{name}")
    flags = np.zeros(telescope.nchans, dtype=bool)
    return Background(name, header, flags, telescope=telescope, seconds=float(entry["seconds"]), rfi=entry["rfi"])


def search_realisation(
    data: np.ndarray, background: Background, injections: pd.DataFrame | None, plan: SearchPlan, settings: dict, threads
) -> dict:
    """Inject `injections` (None: none) into `data`, search it (`plan`: pulsar.search for data of this length), cut
    the candidates' images (pulsar.candidates.images) and match them to the truth. Returns {candidates (absolute
    samples), truth, ft, dmt, candidate_truth, truth_candidate, seconds}."""
    header, first = background.header, background.start
    median, sigma = background.noise_levels()  # of the background: the units of the injected S/N
    truth = pd.DataFrame()
    if injections is not None and len(injections):
        data, truth = inject(data, header, injections, sigma, first, median, background.normalised)
    started = time.perf_counter()
    result = search_block(data, plan, channel_flags=background.flags, threads=threads)
    searched = time.perf_counter() - started
    candidates = result.candidates
    ft, dmt = candidate_images(
        data, header_frequencies(header), float(header["tsamp"]), candidates, settings["images"], (median, sigma)
    )
    candidates = candidates.assign(sample=candidates["sample"] + first)
    candidates["time_s"] = candidates["sample"] * float(header["tsamp"])
    if len(truth):
        to_truth, to_candidate = match_candidates(candidates, truth, header, settings["matching"])
    else:
        to_truth, to_candidate = np.full(len(candidates), -1), np.zeros(0, dtype=int)
    return {
        "candidates": candidates,
        "truth": truth,
        "ft": ft,
        "dmt": dmt,
        "candidate_truth": np.asarray(to_truth),
        "truth_candidate": np.asarray(to_candidate),
        "seconds": {"search": searched, "images": time.perf_counter() - started - searched},
        "channel_flags": np.asarray(result.excision["channel_flags"], dtype=bool),
    }


def injectable(injection: dict, plan: SearchPlan) -> dict:
    """pulsar.candidates.injection with its DM range cut to the DMs the search reaches in data of this length
    (a pulse beyond them could not be found: it would measure the plan, not the search)."""
    reach = float(plan.dedispersion.dms.max())
    dm = injection["dm"]
    if dm["min"] >= reach:
        raise ValueError(
            f"pulsar.candidates.injection.dm: min {dm['min']} is beyond the DM {reach:.1f} the search reaches in "
            "this background; lower it or lengthen the background (seconds)"
        )
    return {**injection, "dm": {"min": dm["min"], "max": min(dm["max"], reach)}}


def overlapping(candidates: pd.DataFrame, truth: pd.DataFrame, header: dict) -> np.ndarray:
    """(n,) bool: candidates whose sweep through the band (arrival to arrival + sweep at their DM + width) overlaps
    an injected pulse's footprint (truth first_sample..stop_sample)."""
    if not len(truth) or not len(candidates):
        return np.zeros(len(candidates), dtype=bool)
    start = candidates["sample"].to_numpy()
    stop = start + sweep_samples(candidates["dm"].to_numpy(), header) + candidates["width"].to_numpy()
    first, last = truth["first_sample"].to_numpy(), truth["stop_sample"].to_numpy()
    return ((start[:, None] < last[None, :]) & (stop[:, None] > first[None, :])).any(axis=1)


def _labelled(run: dict, realisation: int, truth_offset: int) -> pd.DataFrame:
    """The run's candidates with their realisation, label (1: belongs to an injected pulse), the injection (row
    of the joined injection table, -1: none) and its S/N."""
    table = run["candidates"].reset_index(drop=True)
    to_truth = run["candidate_truth"]
    injected = np.full(len(table), np.nan)
    if len(run["truth"]):
        hit = to_truth >= 0
        injected[hit] = run["truth"]["snr"].to_numpy()[to_truth[hit]]
    return table.assign(
        realisation=realisation,
        label=(to_truth >= 0).astype(np.uint8),
        injection=np.where(to_truth >= 0, to_truth + truth_offset, -1),
        injected_snr=injected,
    )


def _without(run: dict, drop: np.ndarray) -> dict:
    """The run with the candidates of `drop` (n,) bool removed, the truth's best-candidate rows renumbered."""
    keep = ~drop
    renumber = np.cumsum(keep) - 1
    to_candidate = np.where(run["truth_candidate"] >= 0, renumber[np.maximum(run["truth_candidate"], 0)], -1)
    return {
        **run,
        "candidates": run["candidates"][keep].reset_index(drop=True),
        "ft": run["ft"][keep],
        "dmt": run["dmt"][keep],
        "candidate_truth": run["candidate_truth"][keep],
        "truth_candidate": to_candidate,
    }


def _found(run: dict, realisation: int, offset: int) -> pd.DataFrame:
    """The run's injections with their realisation, whether the search found them and the row (in the joined
    candidate table) of the best matching candidate (-1: missed)."""
    truth = run["truth"].reset_index(drop=True)
    row = run["truth_candidate"]
    return truth.assign(realisation=realisation, found=row >= 0, candidate=np.where(row >= 0, row + offset, -1))


def build_candidate_set(background: Background, settings: dict, realisations: int, rng_for, threads: int = 2) -> dict:
    """Realisation NO_INJECTION (the background alone) and `realisations` injected ones of `background`, each
    with its own generator rng_for(r). settings: {search, images, injection, matching}. Returns {candidates
    (table, one row per candidate, labelled), injections (truth table with found/candidate), ft, dmt, dm_max
    (the largest DM injected pulses could have here), seconds (summed search and image time, data seconds)}."""
    tables, truths, fts, dmts, offset, truth_offset, side_lobes_total = [], [], [], [], 0, 0, 0
    seconds = {"search": 0.0, "images": 0.0, "data": 0.0}
    plan, injection, dm_max = None, None, None
    for r in range(NO_INJECTION, realisations):
        rng = rng_for(r)
        data = background.realisation(rng)
        if plan is None:  # one plan per split: every realisation has the same length
            plan = plan_search(background.header, settings["search"], nsamples=len(data))
            injection = injectable(settings["injection"], plan)
            dm_max = fitting_dm_max(injection, background.header, len(data))
        injections = None
        if r != NO_INJECTION:
            injections = draw_injections(rng, injection, background.header, len(data), background.start)
        run = search_realisation(data, background, injections, plan, settings, threads)
        # an unmatched candidate inside an injected pulse's sweep is that pulse seen at a far DM (a side lobe of
        # the dedispersion): a negative that teaches the classifier a bow-tie off centre ("negative"), or left out
        side_lobes = overlapping(run["candidates"], run["truth"], background.header) & (run["candidate_truth"] < 0)
        side_lobes_total += int(side_lobes.sum())
        if settings["side_lobes"] == "drop" and side_lobes.any():
            run, side_lobes = _without(run, side_lobes), np.zeros((~side_lobes).sum(), dtype=bool)
        run["candidates"] = run["candidates"].assign(side_lobe=side_lobes)
        if r == NO_INJECTION and background.telescope is None:
            # inject where the search looks: its own flags of the real range count as flagged
            background.flags = background.flags | run["channel_flags"]
            background.noise = None
        tables.append(_labelled(run, r, truth_offset))
        if len(run["truth"]):
            truths.append(_found(run, r, offset))
            truth_offset += len(run["truth"])
        fts.append(run["ft"])
        dmts.append(run["dmt"])
        offset += len(run["candidates"])
        for key, value in run["seconds"].items():
            seconds[key] += value
        seconds["data"] += len(data) * float(background.header["tsamp"])
    log.info("%s: %d candidates over %d realisations; seconds %s", background.name, offset, realisations + 1, seconds)
    n_freq, n_time, n_dm = (settings["images"][k] for k in ("n_freq", "n_time", "n_dm"))
    return {
        "candidates": pd.concat(tables, ignore_index=True),
        "injections": pd.concat(truths, ignore_index=True) if truths else pd.DataFrame(),
        "ft": np.concatenate(fts) if fts else np.zeros((0, n_freq, n_time), np.float32),
        "dmt": np.concatenate(dmts) if dmts else np.zeros((0, n_dm, n_time), np.float32),
        "dm_max": dm_max,
        "seconds": seconds,
        "side_lobes_total": side_lobes_total,
    }
