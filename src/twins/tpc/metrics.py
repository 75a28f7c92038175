"""Validation maths of the TPC twin (no file I/O): per-response moments (the anchor's validation quantities),
their profiles against the conditions, chi^2 between profiles, and the summary of one variant.

Moments of a response A (pads x buckets, ADC >= 0) with pad index i and bucket index j:
    pad_mean = sum i A / S, time_mean = sum j A / S, pad_width^2 and time_width^2 the variances,
    pad_time_cov the covariance, amplitude = S = sum A. Empty responses (S = 0) give NaN moments.
A profile bins one condition into quantile bins of the reference and gives, per bin, the mean and the
width (standard deviation) of a moment with their statistical errors; chi^2 compares two profiles.

The statistical floor: the same profiles and chi^2 for a second, independent simulated sample (the
validation split) against the test split; a perfect generator scores about that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from twins.tpc.padrow import fractional_pad

MOMENTS = ("pad_mean", "time_mean", "pad_width", "time_width", "pad_time_cov", "amplitude")
MOMENT_LABELS = {
    "pad_mean": "centre along pads [pads]",
    "time_mean": "centre in time [buckets]",
    "pad_width": "width along pads [pads]",
    "time_width": "width in time [buckets]",
    "pad_time_cov": "pad-time covariance [pads x buckets]",
    "amplitude": "integrated amplitude [ADC]",
}
# the conditions profiles are drawn against: raw feature -> how it enters the profile
CONDITIONS = ("crossing_angle", "dip_angle", "drift_length", "pad_fraction", "pt", "pad_row")
CONDITION_LABELS = {
    "crossing_angle": "crossing angle [rad]",
    "dip_angle": "dip angle [rad]",
    "drift_length": "drift length [cm]",
    "pad_fraction": "fractional pad coordinate",
    "pt": "pT [GeV]",
    "pad_row": "pad row",
}
FAST4_CONDITIONS = CONDITIONS[:4]


def response_moments(responses: np.ndarray) -> dict[str, np.ndarray]:
    """responses (N, pads, buckets) -> {moment: (N,)} (NaN for empty responses)."""
    a = np.asarray(responses, dtype=np.float64)
    total = a.sum(axis=(1, 2))
    pads = np.arange(a.shape[1], dtype=np.float64)[None, :, None]
    buckets = np.arange(a.shape[2], dtype=np.float64)[None, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        w = a / total[:, None, None]
        m0 = (w * pads).sum(axis=(1, 2))
        m1 = (w * buckets).sum(axis=(1, 2))
        d0 = pads - m0[:, None, None]
        d1 = buckets - m1[:, None, None]
        var0 = (w * d0**2).sum(axis=(1, 2))
        var1 = (w * d1**2).sum(axis=(1, 2))
        cov = (w * d0 * d1).sum(axis=(1, 2))
    empty = total <= 0
    out = {
        "pad_mean": m0,
        "time_mean": m1,
        "pad_width": np.sqrt(np.maximum(var0, 0)),
        "time_width": np.sqrt(np.maximum(var1, 0)),
        "pad_time_cov": cov,
    }
    out = {k: np.where(empty, np.nan, v) for k, v in out.items()}
    out["amplitude"] = total
    return out


def condition_values(features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Raw features -> the CONDITIONS (pad coordinate as its fractional part)."""
    values = {k: features[k] for k in CONDITIONS if k != "pad_fraction"}
    values["pad_fraction"] = fractional_pad(features["pad_coordinate"])
    return {k: values[k] for k in CONDITIONS}


def condition_edges(reference: np.ndarray, n_bins: int) -> np.ndarray:
    """Quantile bin edges of the reference condition (integer-valued rows get at most one bin per value)."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, n_bins + 1)))
    edges[-1] = np.nextafter(edges[-1], np.inf)
    return edges


def profile(condition: np.ndarray, moment: np.ndarray, edges: np.ndarray) -> dict[str, np.ndarray]:
    """Per bin: mean, its error, width (std), its error, count; (n_bins,) each. Empty bins give NaN."""
    ok = np.isfinite(moment)
    index = np.digitize(condition[ok], edges) - 1
    values = moment[ok]
    n_bins = len(edges) - 1
    out = {k: np.full(n_bins, np.nan) for k in ("mean", "mean_err", "width", "width_err")}
    out["count"] = np.zeros(n_bins)
    for b in range(n_bins):
        v = values[index == b]
        if len(v) < 2:
            continue
        std = v.std(ddof=1)
        out["mean"][b], out["width"][b], out["count"][b] = v.mean(), std, len(v)
        out["mean_err"][b] = std / np.sqrt(len(v))
        out["width_err"][b] = std / np.sqrt(2 * (len(v) - 1))
    return out


def profile_chi2(reference: dict[str, np.ndarray], generated: dict[str, np.ndarray]) -> tuple[float, int]:
    """chi^2 and degrees of freedom between two profiles, over both the means and the widths of every bin
    filled in both."""
    chi2, ndf = 0.0, 0
    for key in ("mean", "width"):
        err2 = reference[f"{key}_err"] ** 2 + generated[f"{key}_err"] ** 2
        ok = np.isfinite(reference[key]) & np.isfinite(generated[key]) & (err2 > 0)
        chi2 += float(((reference[key][ok] - generated[key][ok]) ** 2 / err2[ok]).sum())
        ndf += int(ok.sum())
    return chi2, ndf


def profile_table(ref_cond, ref_mom, gen_cond, gen_mom, n_bins: int) -> dict[str, dict[str, Any]]:
    """{condition: {moment: {"edges", "reference", "generated", "chi2", "ndf"}}}, binned in quantiles of the
    reference's condition values."""
    table: dict[str, dict[str, Any]] = {}
    for condition in CONDITIONS:
        edges = condition_edges(ref_cond[condition], n_bins)
        table[condition] = {}
        for moment in MOMENTS:
            ref = profile(ref_cond[condition], ref_mom[moment], edges)
            gen = profile(gen_cond[condition], gen_mom[moment], edges)
            chi2, ndf = profile_chi2(ref, gen)
            table[condition][moment] = {"edges": edges, "reference": ref, "generated": gen, "chi2": chi2, "ndf": ndf}
    return table


def chi2_summary(table: dict[str, dict[str, Any]], conditions: Sequence[str]) -> float:
    """chi^2 / ndf summed over every moment profile of the given conditions."""
    chi2 = sum(table[c][m]["chi2"] for c in conditions for m in MOMENTS)
    ndf = sum(table[c][m]["ndf"] for c in conditions for m in MOMENTS)
    return chi2 / max(ndf, 1)


def simulator_rate(timings: Sequence[dict[str, float]]) -> float:
    """Segments per second of the detailed simulation over all chunks (total segments / total time), from the
    chunks' timing records {"segments", "seconds"}."""
    return sum(r["segments"] for r in timings) / sum(r["seconds"] for r in timings)


def compare_responses(
    reference: dict[str, Any], independent: dict[str, Any], generated_response: np.ndarray, n_bins: int
) -> dict[str, Any]:
    """Moments and profiles of generated vs reference responses and of an independent simulated sample vs the
    reference (the floor). reference/independent: {"response": (N, pads, buckets), "features": {name: (N,)}};
    generated_response: (N, pads, buckets) at the reference's features. Returns {"table", "floor",
    "reference_moments", "generated_moments"}."""
    ref_cond, ind_cond = condition_values(reference["features"]), condition_values(independent["features"])
    ref_mom, ind_mom, gen_mom = (
        response_moments(r) for r in (reference["response"], independent["response"], generated_response)
    )
    return {
        "table": profile_table(ref_cond, ref_mom, ref_cond, gen_mom, n_bins),
        "floor": profile_table(ref_cond, ref_mom, ind_cond, ind_mom, n_bins),
        "reference_moments": ref_mom,
        "generated_moments": gen_mom,
    }


def summary(
    comparison: dict[str, Any], simulator_segments_per_second: float, generator_segments_per_second: float
) -> dict[str, float]:
    """The chi^2/ndf pooled over the Fast4 conditions and over all, with their floors, the fractions of empty
    responses and the speeds (segments/s) with their ratio generator / simulator."""
    table, floor = comparison["table"], comparison["floor"]
    return {
        "chi2_ndf_fast4_conditions": chi2_summary(table, FAST4_CONDITIONS),
        "chi2_ndf_all_conditions": chi2_summary(table, CONDITIONS),
        "chi2_ndf_fast4_conditions_floor": chi2_summary(floor, FAST4_CONDITIONS),
        "chi2_ndf_all_conditions_floor": chi2_summary(floor, CONDITIONS),
        "empty_fraction_simulated": float(np.mean(comparison["reference_moments"]["amplitude"] <= 0)),
        "empty_fraction_generated": float(np.mean(comparison["generated_moments"]["amplitude"] <= 0)),
        "simulator_segments_per_second": simulator_segments_per_second,
        "generator_segments_per_second": generator_segments_per_second,
        "speed_ratio": generator_segments_per_second / simulator_segments_per_second,
    }


def profile_chi2_record(comparison: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """{condition: {moment: {"chi2", "ndf", "chi2_floor", "ndf_floor"}}} of a comparison (the metrics file's
    "profiles")."""
    table, floor = comparison["table"], comparison["floor"]
    return {
        c: {
            m: {
                "chi2": table[c][m]["chi2"],
                "ndf": table[c][m]["ndf"],
                "chi2_floor": floor[c][m]["chi2"],
                "ndf_floor": floor[c][m]["ndf"],
            }
            for m in MOMENTS
        }
        for c in CONDITIONS
    }
