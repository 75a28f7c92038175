"""Validation maths of the stream search and the candidate classifier (no file I/O): recall against injected S/N
(search alone and search + classifier), false alarms on data without injections, pulses of a simulated
observation found, and the reduction of each observation."""

from __future__ import annotations

import numpy as np
import pandas as pd

from twins.pulsar.candidate_sets import NO_INJECTION
from twins.pulsar.dispersion import delay_samples, header_frequencies
from twins.pulsar.matching import match_candidates, recall_by_snr
from twins.pulsar.metrics import accuracy_interval
from twins.pulsar.normalisation import MAD_TO_SIGMA
from twins.pulsar.pulsar_dt import FWHM_PER_SIGMA, SCAN_COLUMNS
from twins.pulsar.snr import BOXCAR_WIDTHS, boxcar_sums, dedispersed_series


def recall_at(snr: np.ndarray, found: np.ndarray, snr_min: float) -> dict:
    """Recall of the pulses with S/N >= snr_min: {snr_min, injected, found, recall, interval}."""
    above = np.asarray(snr, dtype=float) >= snr_min
    n, hits = int(above.sum()), int(np.asarray(found, dtype=bool)[above].sum())
    return {
        "snr_min": snr_min,
        "injected": n,
        "found": hits,
        "recall": hits / n if n else None,
        "interval": accuracy_interval(hits, n, method="exact"),
    }


def found_by_chain(candidates: pd.DataFrame, accepted: np.ndarray, n_injections: int) -> np.ndarray:
    """(n_injections,) bool: the injections with at least one accepted candidate that belongs to them."""
    rows = candidates["injection"].to_numpy()[np.asarray(accepted, dtype=bool)]
    return np.isin(np.arange(n_injections), rows[rows >= 0])


def injection_metrics(candidate_set: dict, accepted: np.ndarray, bins, snr_min: float = 7.0) -> dict:
    """Recall and false alarms on one background's test split (pulsar_inject's file, read_candidate_set) with the
    classifier's decisions `accepted` (one per candidate). Recall against the S/N measured on the stream at the
    true DM and width (`snr_stream`, noise under the pulse included; also against the injected `snr` and
    snr_radiometer, from snr_min up), for the search alone (a candidate matched the pulse)
    and the whole chain (one of its candidates accepted). False alarms: accepted candidates of the background
    alone (realisation NO_INJECTION: the real data, no pulses), accepted candidates that belong to no injection
    in the injected realisations, apart from the side lobes (a pulse seen at a far DM inside its sweep), counted
    on their own."""
    table, injections = candidate_set["candidates"], candidate_set["injections"]
    accepted = np.asarray(accepted, dtype=bool)
    seconds = candidate_set["attrs"]["seconds"]
    alone = table["realisation"].to_numpy() == NO_INJECTION
    side_lobe = table["side_lobe"].to_numpy(dtype=bool) if "side_lobe" in table else np.zeros(len(table), bool)
    spurious = (table["injection"].to_numpy() < 0) & ~alone & ~side_lobe if len(table) else np.zeros(0, bool)
    n_alone = len(table) and int(alone.sum())
    out = {
        "injections": int(len(injections)),
        "candidates": int(len(table)),
        "dm_max_injected": candidate_set["attrs"].get("dm_max_injected"),
        "data_seconds": float(seconds["data"]),
        "false_alarms": {
            "background_candidates": int(n_alone),
            "background_accepted": int((accepted & alone).sum()),
            "injected_realisations_spurious": int(spurious.sum()),
            "injected_realisations_spurious_accepted": int((accepted & spurious).sum()),
            "side_lobes": int(candidate_set["attrs"].get("side_lobes", 0)),
            "side_lobes_accepted": int((accepted & side_lobe).sum()),
        },
    }
    if not len(injections):
        return out
    search = injections["found"].to_numpy(dtype=bool)
    chain = found_by_chain(table, accepted, len(injections))
    measured = injections["snr_stream"].fillna(0.0)
    out["recall"] = {
        "search": recall_at(measured, search, snr_min),
        "chain": recall_at(measured, chain, snr_min),
        "chain_injected_snr": recall_at(injections["snr"], chain, snr_min),
        "chain_radiometer_snr": recall_at(injections["snr_radiometer"], chain, snr_min),
    }
    binned = injections.assign(snr_stream=measured)
    out["recall_by_snr"] = {
        "search": recall_by_snr(binned, search, bins, column="snr_stream"),
        "chain": recall_by_snr(binned, chain, bins, column="snr_stream"),
    }
    missed = injections[(measured >= snr_min) & ~chain]
    columns = ["dm", "width_s", "snr", "snr_stream", "found"]
    out["missed_above_snr_min"] = missed[columns].head(20).to_dict("records")
    return out


def in_range(candidates: pd.DataFrame, nsamples: int, fraction: list[float]) -> np.ndarray:
    """(n,) bool: candidates whose sample lies in [fraction[0], fraction[1]) of an observation of nsamples."""
    lo, hi = fraction[0] * nsamples, fraction[1] * nsamples
    sample = candidates["sample"].to_numpy()
    return (sample >= lo) & (sample < hi)


def observation_false_alarms(candidates: pd.DataFrame, summary: dict, fraction: list[float]) -> dict:
    """False alarms of a real observation in the part of it no training saw (`fraction` of its length): search
    candidates there, and those the classifier accepted (there is no pulse in the shared Parkes file)."""
    inside = in_range(candidates, summary["samples"], fraction) if len(candidates) else np.zeros(0, bool)
    accepted = candidates["accepted"].to_numpy(dtype=bool) if len(candidates) else np.zeros(0, bool)
    seconds = (fraction[1] - fraction[0]) * summary["observation_seconds"]
    return {
        "range": fraction,
        "seconds": seconds,
        "candidates": int(inside.sum()),
        "accepted": int((inside & accepted).sum()),
        "max_snr": float(candidates["snr"][inside].max()) if inside.any() else None,
    }


def truth_pulses(pulses: np.ndarray, scans: np.ndarray) -> pd.DataFrame:
    """A simulated observation's pulses (truth `pulses`: scan, sample, snr) with their scan's DM and a width
    (FWHM of the widest profile component) for matching."""
    table = pd.DataFrame(pulses, columns=["scan", "sample", "snr"])
    scan = table["scan"].to_numpy(dtype=int)
    table["dm"] = scans[scan, SCAN_COLUMNS.index("dm")]
    table["width_s"] = scans[scan, SCAN_COLUMNS.index("max_component_sigma_s")] * FWHM_PER_SIGMA
    table["sample"] = table["sample"].astype(np.int64)
    return table


def stream_snr_at(
    block: np.ndarray, delays: np.ndarray, arrival: int, reach: int, widths=BOXCAR_WIDTHS, excluded=None
) -> float:
    """S/N of the pulse that reaches the top of the band at sample `arrival` of `block` (time, chan), measured on
    the stream at its true DM (integer `delays`, samples): channels normalised by their median and robust sigma
    (flat channels dropped), dedispersed and summed; the best boxcar whose window starts within `reach` samples
    of the arrival, over the robust sigma of all the block's boxcar sums (NaN: the block does not hold the whole
    sweep). `excluded` (block's shape, bool): pixels left out (a simulation's RFI truth), so RFI that crosses the
    sweep does not count as the pulse. The S/N a perfect search at the true DM and width would report: what the
    issue's targets count in, whatever the simulator's nominal S/N says."""
    block = np.asarray(block, dtype=np.float32)
    median = np.median(block, axis=0)
    sigma = MAD_TO_SIGMA * np.median(np.abs(block - median), axis=0)
    good = sigma > 0
    pixels = (block[:, good] - median[good]) / sigma[good]
    if excluded is not None:
        pixels[np.asarray(excluded, bool)[:, good]] = 0.0
    lead = int(np.max(delays, initial=0))
    # arrivals 0 .. n - lead - 1 only: every channel's sample lies in the block (earlier or later ones, partly
    # outside, would lower the noise measured and the S/N of a pulse the stream does not hold whole)
    series = dedispersed_series(pixels, np.asarray(delays)[good])[lead:]
    series = series[: max(block.shape[0] - lead, 0)]
    best = float("nan")
    for w in widths:
        if 4 * w > series.size:
            break
        sums = boxcar_sums(series, w)
        level = np.median(sums)
        noise = MAD_TO_SIGMA * np.median(np.abs(sums - level))
        window = sums[max(arrival - reach - w, 0) : max(arrival + reach + 1, 0)]
        if noise > 0 and window.size:
            best = np.nanmax([best, (float(window.max()) - level) / noise])
    return float(best)


def truth_stream_snrs(read, header: dict, truth: pd.DataFrame, nsamples: int, read_excluded=None) -> np.ndarray:
    """stream_snr_at of every truth pulse (sample, dm, width_s) of an observation whose spectra `read(start,
    count)` returns (file channel order, `header`'s frequencies): each measured in a block holding its sweep and
    a stretch of noise either side, long enough for the robust noise of the widest boxcar; pixels where
    `read_excluded(start, count)` is true (the RFI truth) left out."""
    freqs, tsamp = header_frequencies(header), float(header["tsamp"])
    out = np.full(len(truth), np.nan)
    for i, row in enumerate(truth.itertuples()):
        delays = delay_samples(float(row.dm), freqs, tsamp)
        reach = int(np.ceil(2 * float(row.width_s) / tsamp)) + 2
        margin = max(8 * max(BOXCAR_WIDTHS), 4 * reach)
        start = max(int(row.sample) - margin, 0)
        stop = min(int(row.sample) + int(delays.max(initial=0)) + margin, nsamples)
        excluded = None if read_excluded is None else read_excluded(start, stop - start)
        out[i] = stream_snr_at(read(start, stop - start), delays, int(row.sample) - start, reach, excluded=excluded)
    return out


def pulses_found(
    candidates: pd.DataFrame, truth: pd.DataFrame, header: dict, matching: dict, snr_min: float, snr: str = "snr"
) -> dict:
    """Pulses of a simulated observation found by the search and by the chain (an accepted candidate matches),
    counted from S/N snr_min up, S/N taken from truth column `snr`; also the accepted candidates that match no
    pulse (false alarms)."""
    if not len(candidates):
        empty = np.zeros(len(truth), bool)
        return {"search": recall_at(truth[snr], empty, snr_min), "chain": recall_at(truth[snr], empty, snr_min)}
    owner, _ = match_candidates(candidates, truth, header, matching)
    accepted = candidates["accepted"].to_numpy(dtype=bool)
    search = np.isin(np.arange(len(truth)), owner[owner >= 0])
    chain = np.isin(np.arange(len(truth)), owner[accepted & (owner >= 0)])
    return {
        "search": recall_at(truth[snr], search, snr_min),
        "chain": recall_at(truth[snr], chain, snr_min),
        "accepted_unmatched": int((accepted & (owner < 0)).sum()),
        "missed_above_snr_min": truth[(truth[snr] >= snr_min) & ~chain].to_dict("records"),
    }
