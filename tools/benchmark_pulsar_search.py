"""Benchmark of the pulsar stream search (twins.pulsar.search): speed and recall on simulated MeerKAT L-band data.

Speed: a Gaussian radiometer-noise stream of --seconds s from the MeerKAT-like preset (256 channels, 856-1712 MHz,
64 us, 8-bit counts), searched to --dm-max on --threads threads: data seconds, wall seconds per stage, real-time
factor (data seconds / wall seconds), DM trials per decimation level and the additions of a brute-force search
(every trial at full resolution: samples x trials x channels) against those of the FDMT per level.
Recall: --pulses single pulses (DM 50-1000, FWHM 0.5-20 ms, injected S/N 7-15, pulsar_dt.pulse_templates) one per
--spacing s in another stream; found = a candidate whose sample is within twice the wider of its boxcar and the
pulse's effective width, and whose DM lies within 5% of the true one or inside its cluster's DM extent.
Injected S/N: the optimal-boxcar S/N of the noiseless dedispersed pulse, sum over channels / sqrt(nchans w).
Chain: the pulsar_search step on the recall stream (search, candidate images, candidate classifier --model):
seconds per stage, real-time factor of the whole chain and of the classifier alone (images + network).
Usage: python tools/benchmark_pulsar_search.py [--seconds 20] [--dm-max 1000] [--out benchmarks/pulsar_search.json]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from twins.core.config import resolve
from twins.core.io import write_json
from twins.pulsar.filterbank import Filterbank
from twins.pulsar.models import get_model
from twins.pulsar.models.candidate_classifier.network import build_model
from twins.pulsar.pulsar_dt import FWHM_PER_SIGMA, Pulsar, pulse_templates
from twins.pulsar.search import search_block
from twins.pulsar.stream_reduction import search_and_classify
from twins.pulsar.telescope import load_telescope

REPO = Path(__file__).resolve().parents[1]
LEVEL, SIGMA = 96.0, 14.0  # digitiser: counts = LEVEL + SIGMA * (noise + signal in sigma units)


def noise_stream(nsamples: int, nchans: int, seed: int) -> np.ndarray:
    """(nsamples, nchans) float32 Gaussian noise in sigma units, made in slabs (bounded temporaries)."""
    rng = np.random.default_rng(seed)
    out = np.empty((nsamples, nchans), dtype=np.float32)
    for lo in range(0, nsamples, 1 << 16):
        out[lo : lo + (1 << 16)] = rng.standard_normal((min(1 << 16, nsamples - lo), nchans), dtype=np.float32)
    return out


def to_counts(x: np.ndarray) -> np.ndarray:
    """8-bit counts of data in sigma units, in place through float32 to keep memory flat."""
    x *= SIGMA
    x += LEVEL + 0.5
    np.clip(x, 0, 255, out=x)
    return x.astype(np.uint8)


def optimal_snr(series: np.ndarray, nchans: int) -> tuple[float, int]:
    """(S/N, width) of the best boxcar over a noiseless dedispersed series (unit noise per pixel)."""
    csum = np.concatenate([[0.0], np.cumsum(series, dtype=np.float64)])
    best, width = 0.0, 1
    for w in range(1, len(series) + 1):
        value = float((csum[w:] - csum[:-w]).max()) / np.sqrt(nchans * w)
        if value > best:
            best, width = value, w
    return best, width


def inject(x: np.ndarray, telescope, arrival: int, dm: float, fwhm_s: float, snr: float) -> dict:
    """Add one pulse (arrival sample at the top channel) to x (nsamples, nchans) in sigma units; its truth."""
    pulsar = Pulsar(1.0, dm, np.array([0.0]), np.array([fwhm_s / FWHM_PER_SIGMA]), np.array([1.0]), 0.0, 0.0, snr, 0.0)
    templates, shifts, pre = pulse_templates(pulsar, telescope)
    unit, width = optimal_snr(templates.sum(axis=1, dtype=np.float64), telescope.nchans)
    rows = np.arange(templates.shape[0])[:, None] - pre + shifts[None, :] + arrival
    cols = np.broadcast_to(np.arange(telescope.nchans), templates.shape)
    valid = (rows >= 0) & (rows < x.shape[0])
    x[rows[valid], cols[valid]] += (snr / unit) * templates[valid]
    return {"sample": arrival, "dm": dm, "fwhm_s": fwhm_s, "snr": snr, "width": width}


def match(truth: dict, candidates) -> dict | None:
    """The candidate (as a dict) that finds the pulse, or None."""
    if candidates.empty:
        return None
    near = candidates[
        (np.abs(candidates["sample"] - truth["sample"]) <= 2 * np.maximum(candidates["width"], truth["width"]))
        & (
            (np.abs(candidates["dm"] - truth["dm"]) <= 0.05 * truth["dm"])
            | ((candidates["dm_low"] <= truth["dm"]) & (candidates["dm_high"] >= truth["dm"]))
        )
    ]
    return None if near.empty else near.loc[near["snr"].idxmax()].to_dict()


def speed(telescope, seconds: float, dm_max: float, threads: int) -> dict:
    """Search a noise-only stream; timing, trials per level and additions."""
    header = telescope.header("noise")
    nsamples = int(round(seconds / telescope.tsamp_s))
    counts = to_counts(noise_stream(nsamples, telescope.nchans, seed=1))
    # warm-up (untimed): a real-time search is a long-lived process whose memory is already mapped; a fresh
    # process pays first-touch page faults that would otherwise dominate a 20 s benchmark on a VM
    search_block(counts[: nsamples // 2], header, {"dm_max": dm_max}, threads=threads)
    t0 = time.perf_counter()
    result = search_block(counts, header, {"dm_max": dm_max}, threads=threads)
    wall = time.perf_counter() - t0
    plan = result.plan
    per_level = []
    for level, fdmt in zip(plan.dedispersion.levels, plan.fdmt):
        samples = nsamples / level.factor
        per_level.append(
            {
                "factor": level.factor,
                "dm_low": float(level.dms[0]),
                "dm_high": float(level.dms[-1]),
                "trials": len(level.dms),
                "widths": level.widths.tolist(),
                "fdmt_additions": float(samples * fdmt.rows_summed),
            }
        )
    brute = float(nsamples * len(plan.dedispersion.dms) * telescope.nchans)
    ours = float(sum(level["fdmt_additions"] for level in per_level))
    return {
        "data_seconds": seconds,
        "wall_seconds": wall,
        "real_time_factor": seconds / wall,
        "stage_seconds": result.timing,
        "dm_max_searched": float(plan.dedispersion.dms[-1]),
        "trials": len(plan.dedispersion.dms),
        "levels": per_level,
        "brute_force_additions": brute,
        "fdmt_additions": ours,
        "addition_ratio": brute / ours,
        "false_candidates": int(len(result.candidates)),
        "overlap_seconds": plan.overlap * telescope.tsamp_s,
        "chunk_seconds": plan.chunk_samples * telescope.tsamp_s,
    }


def classifier_for_chain(path: Path):
    """(model, meta) of the trained candidate classifier at `path`, else one of the configured size with fresh
    weights and a fixed threshold: the chain's cost does not depend on the weights."""
    classifier = get_model("candidate_classifier")
    if path.exists():
        return classifier.load(path), str(path)
    images = resolve("pulsar.candidates.images")
    model = build_model(resolve("pulsar.candidates.train"), images).eval()
    return (model, {"images": images, "threshold": 0.5}), "untrained (no model file)"


def chain(telescope, counts: np.ndarray, dm_max: float, threads: int, model_path: Path) -> dict:
    """The pulsar_search step's work on a stream with pulses: search, candidate images, classifier. Seconds per
    stage and real-time factors of the whole chain and of the classifier alone (images + network)."""
    header = dict(telescope.header("chain"), nbits=8)
    fb = Filterbank(header, counts)
    (model, meta), source = classifier_for_chain(model_path)
    classify = resolve("pulsar.candidates.classify")
    observed = search_and_classify(
        fb, get_model("candidate_classifier"), model, meta, {"dm_max": dm_max}, classify, threads
    )
    seconds = {k: v for k, v in observed.seconds.items() if k != "search_stages"}
    data_s = fb.nsamples * fb.tsamp
    wall = sum(seconds.values())
    return {
        "model": source,
        "data_seconds": data_s,
        "candidates": int(len(observed.candidates)),
        "stage_seconds": seconds,
        "real_time_factor": data_s / wall,
        "classifier_real_time_factor": data_s / max(seconds["images"] + seconds["classify"], 1e-9),
    }


def recall(telescope, n_pulses: int, spacing: float, dm_max: float, threads: int, seed: int) -> dict:
    """Inject `n_pulses` pulses one per `spacing` s and search; fraction found and measured / injected S/N."""
    rng = np.random.default_rng(seed)
    tsamp = telescope.tsamp_s
    sweep = 4.149e-3 * dm_max * ((telescope.frequencies_mhz.min() / 1e3) ** -2 - (telescope.fch1_mhz / 1e3) ** -2)
    nsamples = int(round((n_pulses * spacing + sweep + 1.0) / tsamp))
    x = noise_stream(nsamples, telescope.nchans, seed=seed + 1)
    truths = []
    for i in range(n_pulses):
        arrival = int(round((0.5 + i * spacing + rng.uniform(0, 0.2 * spacing)) / tsamp))
        dm = float(rng.uniform(50, dm_max))
        fwhm = float(np.exp(rng.uniform(np.log(0.5e-3), np.log(20e-3))))
        truths.append(inject(x, telescope, arrival, dm, fwhm, float(rng.uniform(7, 15))))
    counts = to_counts(x)
    result = search_block(counts, telescope.header("recall"), {"dm_max": dm_max}, threads=threads)
    rows = []
    for truth in truths:
        found = match(truth, result.candidates)
        rows.append({**truth, "found": found is not None, "measured_snr": None if found is None else found["snr"]})
    ratios = np.array([r["measured_snr"] / r["snr"] for r in rows if r["found"]])
    missed = [r for r in rows if not r["found"]]
    return {
        "pulses": n_pulses,
        "recall": float(np.mean([r["found"] for r in rows])),
        "snr_ratio_quantiles": {q: float(np.quantile(ratios, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)}
        if len(ratios)
        else {},
        "snr_ratio_mean": float(ratios.mean()) if len(ratios) else None,
        "missed": missed,
        "candidates": int(len(result.candidates)),
        "pulses_table": rows,
    }, counts


def print_table(fast: dict, found: dict, chained: dict, threads: int) -> None:
    rows = [("data seconds", f"{fast['data_seconds']:.1f}"), ("wall seconds", f"{fast['wall_seconds']:.2f}")]
    rows += [(f"  {stage}", f"{seconds:.2f}") for stage, seconds in fast["stage_seconds"].items()]
    rows.append(
        (
            "real-time factor",
            f"{fast['real_time_factor']:.1f}x (search alone, {threads} threads; the chain target is >= 10x)",
        )
    )
    rows.append(("DM trials (to DM)", f"{fast['trials']} ({fast['dm_max_searched']:.0f})"))
    for level in fast["levels"]:
        span = f"DM {level['dm_low']:.1f}-{level['dm_high']:.1f}"
        rows.append((f"  decimation x{level['factor']}", f"{level['trials']} trials, {span}"))
    ratio = f"{fast['brute_force_additions']:.3g} / {fast['fdmt_additions']:.3g} = {fast['addition_ratio']:.0f}x"
    rows += [("additions brute force / FDMT", ratio), ("candidates in pure noise", str(fast["false_candidates"]))]
    if found:
        rows.append(("recall (S/N 7-15, pulsar.search threshold)", f"{found['recall']:.3f} of {found['pulses']}"))
        quantiles = ", ".join(f"{q}: {v:.2f}" for q, v in found["snr_ratio_quantiles"].items())
        rows.append(("measured / injected S/N", f"mean {found['snr_ratio_mean']:.3f}; quantiles {quantiles}"))
    if chained:
        rows.append(("chain on the recall stream", f"{chained['candidates']} candidates, model {chained['model']}"))
        rows += [(f"  {stage}", f"{seconds:.2f}") for stage, seconds in chained["stage_seconds"].items()]
        rows.append(("  real-time factor", f"{chained['real_time_factor']:.1f}x (target >= 10x)"))
        rows.append(("  classifier alone", f"{chained['classifier_real_time_factor']:.0f}x (target >= 100x)"))
    for name, value in rows:
        print(f"{name:<32}{value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--dm-max", type=float, default=1000.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pulses", type=int, default=50)
    parser.add_argument("--spacing", type=float, default=1.0, help="seconds between injected pulses")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default=str(REPO / "benchmarks/pulsar_search.json"))
    parser.add_argument(
        "--model",
        default=str(REPO / "results/pulsar/candidate_model/model.pt"),
        help="candidate classifier for the chain's timing (absent: one of the configured size, untrained)",
    )
    args = parser.parse_args()
    telescope = load_telescope(REPO / "resources/pulsar/meerkat_lband.yaml")
    fast = speed(telescope, args.seconds, args.dm_max, args.threads)
    found, chained = {}, {}
    if args.pulses:
        found, counts = recall(telescope, args.pulses, args.spacing, args.dm_max, args.threads, args.seed)
        chained = chain(telescope, counts, args.dm_max, args.threads, Path(args.model))
    print_table(fast, found, chained, args.threads)
    write_json(args.out, {"speed": fast, "recall": found, "chain": chained, "settings": vars(args)})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
