"""Matching search candidates to injected pulses, and recall as a function of injected S/N.

Rule (tolerances: pulsar.candidates.matching). Times are compared at the sweep's centre frequency f_mid, the frequency
whose delay from the top of the band is half the band's (f_mid^-2 = (f_top^-2 + f_bottom^-2) / 2): a search at a
slightly wrong DM aligns the pulse somewhere inside the band, so translating each arrival (at the top channel
centre) to f_mid with each one's own DM leaves an error of at most |dDM| * k_band / 2, k_band the delay across the
band per unit DM. With w = the wider of the two (candidate width_s; injection max(width_s, width_samples_best *
tsamp)), a candidate matches an injection when both
    |dDM| <= dm_abs + dm_fraction * DM_injected + dm_widths * w / k_band
        (a pulse of width w stays detectable while the DM error smears it by a few widths across the band),
    |dt(f_mid)| <= time_widths * w + time_samples * tsamp + |dDM| * k_band / 2.
Each candidate belongs to the nearest injection it matches (distance: hypot of |dt| and |dDM|, each over its
tolerance; ties to the earlier injection), so a candidate near two injections is counted once; each injection
takes the highest-S/N candidate that belongs to it (ties: the nearer). Candidates that belong to no injection are
spurious; the other candidates that belong to an injection are its duplicates (same pulse, other DM/width).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from twins.core.config import resolve
from twins.pulsar.dispersion import dispersion_delay, header_frequencies

CANDIDATE_COLUMNS = ("sample", "dm", "snr")  # and width_s (s) or width (samples)
TRUTH_COLUMNS = ("sample", "dm")  # and width_s


def _band(header: dict) -> tuple[float, float, float]:
    """(delay per unit DM from the top to f_mid, across the whole band (s), tsamp (s)) of a header."""
    freqs = header_frequencies(header)
    top, bottom = float(freqs.max()), float(freqs.min())
    mid = ((top**-2 + bottom**-2) / 2) ** -0.5
    return float(dispersion_delay(1.0, mid, top)), float(dispersion_delay(1.0, bottom, top)), float(header["tsamp"])


def _widths_s(table: pd.DataFrame, tsamp: float, name: str) -> np.ndarray:
    """Widths (s) of candidates (width_s, else width in samples) or injections (also the best boxcar)."""
    if "width_s" in table:
        width = table["width_s"].to_numpy(dtype=float)
    elif "width" in table:
        width = table["width"].to_numpy(dtype=float) * tsamp
    else:
        raise ValueError(f"match_candidates: {name} need a width_s (s) or width (samples) column")
    if "width_samples_best" in table:
        width = np.maximum(width, table["width_samples_best"].to_numpy(dtype=float) * tsamp)
    return width


def match_candidates(
    candidates: pd.DataFrame, truth: pd.DataFrame, header: dict, settings: dict | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates (sample: arrival at the top channel centre, absolute; dm; snr; width_s s or width samples) against
    injections (truth: sample, dm, width_s, optionally width_samples_best), by the module's rule.

    Returns (candidate_truth_index (n_cand,) int: the injection (row position in truth) each candidate belongs to,
    -1 = spurious; truth_candidate_index (n_truth,) int: each injection's best candidate (row position), -1 = missed).
    """
    s = resolve("pulsar.candidates.matching", settings)
    for name, table, required in (("candidates", candidates, CANDIDATE_COLUMNS), ("truth", truth, TRUTH_COLUMNS)):
        missing = [c for c in required if c not in table]
        if missing:
            raise ValueError(f"match_candidates: {name} lack columns {missing}")
    k_mid, k_band, tsamp = _band(header)
    c_dm, t_dm = candidates["dm"].to_numpy(dtype=float), truth["dm"].to_numpy(dtype=float)
    c_time = candidates["sample"].to_numpy(dtype=float) * tsamp + c_dm * k_mid
    t_time = truth["sample"].to_numpy(dtype=float) * tsamp + t_dm * k_mid
    c_width, t_width = _widths_s(candidates, tsamp, "candidates"), _widths_s(truth, tsamp, "truth")
    owner = np.full(len(candidates), -1, dtype=np.int64)
    distance = np.full(len(candidates), np.inf)
    for i in range(len(truth)):  # one pass per injection over all candidates: O(n_truth * n_cand), vectorised
        d_dm = np.abs(c_dm - t_dm[i])
        width = np.maximum(c_width, t_width[i])
        tol_dm = s["dm_abs"] + s["dm_fraction"] * t_dm[i] + s["dm_widths"] * width / k_band
        tol_t = s["time_widths"] * width + s["time_samples"] * tsamp + 0.5 * d_dm * k_band
        d_t = np.abs(c_time - t_time[i])
        near = np.hypot(d_t / tol_t, d_dm / tol_dm)
        better = (d_dm <= tol_dm) & (d_t <= tol_t) & (near < distance)
        owner[better], distance[better] = i, near[better]
    truth_index = np.full(len(truth), -1, dtype=np.int64)
    owned = pd.DataFrame({"owner": owner, "snr": candidates["snr"].to_numpy(dtype=float), "distance": distance})
    owned = owned[owned["owner"] >= 0].sort_values(["snr", "distance"], ascending=[False, True], kind="stable")
    best = owned.drop_duplicates("owner")
    truth_index[best["owner"].to_numpy()] = best.index.to_numpy()
    return owner, truth_index


def recall_by_snr(
    truth: pd.DataFrame, found_mask: np.ndarray, bins, column: str = "snr", confidence: float = 0.95
) -> list[dict]:
    """Recall per S/N bin: injections with truth[column] in [lo, hi) (the last bin closed), how many were found
    (`found_mask` (n_truth,) bool, e.g. truth_candidate_index >= 0), recall = found / injected (NaN for an empty
    bin) and its Clopper-Pearson (exact binomial) `confidence` interval (low, high; NaN when empty)."""
    values = truth[column].to_numpy(dtype=float)
    found = np.asarray(found_mask, dtype=bool)
    edges = np.asarray(bins, dtype=float)
    if found.shape != values.shape or edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(
            f"recall_by_snr: found_mask {found.shape} must match truth ({values.size},) and bins {list(edges)} "
            "must be at least two increasing edges"
        )
    rows = []
    for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        upper = values <= hi if k == edges.size - 2 else values < hi
        in_bin = (values >= lo) & upper
        n, hits = int(in_bin.sum()), int(found[in_bin].sum())
        low = high = recall = float("nan")
        if n:
            interval = stats.binomtest(hits, n).proportion_ci(confidence_level=confidence, method="exact")
            low, high, recall = float(interval.low), float(interval.high), hits / n
        rows.append(
            {"snr_min": lo, "snr_max": hi, "injected": n, "found": hits, "recall": recall, "low": low, "high": high}
        )
    return rows
