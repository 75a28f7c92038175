"""Twin-agnostic comparisons of a reference sample with a generated one.

Histogram metrics follow the CaloChallenge 2022 evaluation (arXiv:2410.21611): both samples are filled
into one shared binning, each histogram is normalised to unit sum, and

- separation power (triangular discrimination, eq. 15 of arXiv:2009.03796):
  S = 1/2 * sum_i (p_i - q_i)^2 / (p_i + q_i), 0 for identical and 1 for disjoint histograms;
- Jensen-Shannon divergence with base-2 logarithms, also in [0, 1].

`classifier_auc` is the CaloChallenge "classifier test": a classifier learns to tell reference from
generated events; its held-out ROC AUC is 0.5 when the two are indistinguishable and 1 when they are
fully separable. The CaloChallenge's own version (a calibrated network, with AUC and JSD) is
`twins.core.classifier.classifier_test`; the Fréchet and kernel physics distances are in
`twins.core.physics_distances`.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy.spatial.distance import jensenshannon

CLASSIFIER_KINDS = ("hgb", "mlp")


def feature_pair(reference: np.ndarray, generated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two feature matrices as float64 (N, F) with the same F (a 1-D sample becomes one column);
    ValueError naming the shapes, or the columns holding NaN/inf."""
    ref = np.asarray(reference, dtype=np.float64)
    gen = np.asarray(generated, dtype=np.float64)
    ref = ref[:, None] if ref.ndim == 1 else ref
    gen = gen[:, None] if gen.ndim == 1 else gen
    if ref.ndim != 2 or gen.ndim != 2 or ref.shape[1] != gen.shape[1]:
        raise ValueError(f"features must be (N, F) with the same F; got reference {ref.shape}, generated {gen.shape}")
    for name, arr in (("reference", ref), ("generated", gen)):
        if not np.all(np.isfinite(arr)):
            bad = np.flatnonzero(~np.all(np.isfinite(arr), axis=0)).tolist()
            raise ValueError(f"{name} features hold NaN or infinite values in column(s) {bad}")
    return ref, gen


def _as_histogram(h: np.ndarray, name: str) -> np.ndarray:
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 1:
        raise ValueError(f"histogram {name} must be 1-D; got shape {h.shape}")
    if not np.all(np.isfinite(h)) or np.any(h < 0):
        raise ValueError(f"histogram {name} must hold finite, non-negative counts")
    total = h.sum()
    if total <= 0:
        raise ValueError(f"histogram {name} is empty (sums to 0); fill it with at least one entry")
    return h / total


def _check_pair(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, q = _as_histogram(p, "p"), _as_histogram(q, "q")
    if p.shape != q.shape:
        raise ValueError(f"histograms p {p.shape} and q {q.shape} must share one binning; use shared_bins")
    return p, q


def separation_power(p: np.ndarray, q: np.ndarray) -> float:
    """Separation power 1/2 * sum (p - q)^2 / (p + q) of two histograms with the same bins.

    p, q: (n_bins,) counts, or densities over equal-width bins; each is normalised to unit sum here.
    Returns a value in [0, 1]: 0 for identical shapes, 1 when no bin is filled by both.
    """
    p, q = _check_pair(p, q)
    total = p + q
    filled = total > 0
    return float(0.5 * np.sum((p[filled] - q[filled]) ** 2 / total[filled]))


def jensen_shannon_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2) of two histograms with the same bins, in [0, 1].

    p, q: (n_bins,) counts; each is normalised to unit sum. scipy returns the JS *distance* (the square
    root of the divergence), which is squared here.
    """
    p, q = _check_pair(p, q)
    return float(min(1.0, jensenshannon(p, q, base=2.0) ** 2))


def shared_bins(a: np.ndarray, b: np.ndarray, n_bins: int, log: bool = False) -> np.ndarray:
    """Bin edges (n_bins + 1,) spanning the finite values of both samples, linear or logarithmic.

    log=True spaces the edges geometrically over the positive values only (non-positive values are
    ignored for the range). A sample that holds a single value gets a unit-wide (linear) or a
    factor-of-ten-wide (log) range around it, so the edges are always increasing.
    """
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}")
    values = np.concatenate([np.ravel(a), np.ravel(b)]).astype(np.float64)
    values = values[np.isfinite(values)]
    if log:
        values = values[values > 0]
    if values.size == 0:
        kind = "positive finite" if log else "finite"
        raise ValueError(f"shared_bins: neither sample has a {kind} value to bin")
    lo, hi = float(values.min()), float(values.max())
    if log:
        if hi <= lo:
            lo, hi = lo / math.sqrt(10.0), hi * math.sqrt(10.0)
        return np.geomspace(lo, hi, int(n_bins) + 1)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, int(n_bins) + 1)


def histogram(values: np.ndarray, edges: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Counts (len(edges) - 1,) of the finite `values`; values outside the edges are counted in the
    first or last bin (under- and overflow), so no entry is lost."""
    values = np.ravel(np.asarray(values, dtype=np.float64))
    edges = np.asarray(edges, dtype=np.float64)
    keep = np.isfinite(values)
    if weights is not None:
        weights = np.ravel(np.asarray(weights, dtype=np.float64))[keep]
    values = np.clip(values[keep], edges[0], edges[-1])
    counts, _ = np.histogram(values, bins=edges, weights=weights)
    return counts.astype(np.float64)


def relative_moment_error(real: np.ndarray, gen: np.ndarray) -> dict[str, float | None]:
    """Differences of the first two moments of a generated sample from the reference.

    real, gen: 1-D samples of one feature (non-finite values are dropped).
    Returns
      mean:       |mean_gen - mean_real| / |mean_real|
      std:        |std_gen - std_real| / std_real
      mean_shift: |mean_gen - mean_real| / std_real, the shift in units of the reference spread,
                  which stays meaningful for features centred on 0 (e.g. a centre of energy)
    Each is None where its denominator is 0 (a JSON null rather than an infinity).
    """
    real = np.ravel(np.asarray(real, dtype=np.float64))
    gen = np.ravel(np.asarray(gen, dtype=np.float64))
    real, gen = real[np.isfinite(real)], gen[np.isfinite(gen)]
    if real.size == 0 or gen.size == 0:
        raise ValueError(f"relative_moment_error needs finite values in both samples; got {real.size} and {gen.size}")
    mean_r, mean_g = real.mean(), gen.mean()
    std_r, std_g = real.std(), gen.std()

    def ratio(num: float, den: float) -> float | None:
        return float(num / den) if den > 0 else None

    return {
        "mean": ratio(abs(mean_g - mean_r), abs(mean_r)),
        "std": ratio(abs(std_g - std_r), std_r),
        "mean_shift": ratio(abs(mean_g - mean_r), std_r),
    }


def _make_classifier(kind: str, seed: int, max_iter: int):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "hgb":
        model = HistGradientBoostingClassifier(max_iter=max_iter, early_stopping=False, random_state=seed)
    elif kind == "mlp":
        model = MLPClassifier(
            hidden_layer_sizes=(64, 64),
            max_iter=max_iter,
            early_stopping=True,
            n_iter_no_change=10,
            random_state=seed,
        )
    else:
        raise ValueError(f"classifier kind {kind!r} is unknown; use one of {list(CLASSIFIER_KINDS)}")
    return make_pipeline(StandardScaler(), model)


def classifier_auc(
    real_features: np.ndarray,
    gen_features: np.ndarray,
    seed: int,
    kind: Literal["hgb", "mlp"] = "hgb",
    test_fraction: float = 0.3,
    max_iter: int = 200,
    n_threads: int = 1,
) -> float:
    """Held-out ROC AUC of a classifier trained to tell generated (label 1) from real (label 0) events.

    real_features: (N_real, F), gen_features: (N_gen, F), one row per event; features are standardised
    on the training split. kind: 'hgb' (sklearn HistGradientBoostingClassifier) or 'mlp' (two hidden
    layers of 64). The split is stratified, so both classes keep their proportions in the test set.
    n_threads: OpenMP/BLAS threads while fitting; 1 by default, as the tables are small and parallel
    workflow jobs would otherwise oversubscribe the cores (which slows tree boosting tenfold).
    Deterministic for a given seed. 0.5 means indistinguishable, 1 fully separable.
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    real = np.asarray(real_features, dtype=np.float64)
    gen = np.asarray(gen_features, dtype=np.float64)
    if real.ndim == 1:
        real = real[:, None]
    if gen.ndim == 1:
        gen = gen[:, None]
    if real.ndim != 2 or gen.ndim != 2 or real.shape[1] != gen.shape[1]:
        raise ValueError(f"features must be (N, F) with the same F; got real {real.shape} and generated {gen.shape}")
    for name, arr in (("real", real), ("generated", gen)):
        if not np.all(np.isfinite(arr)):
            bad = np.flatnonzero(~np.all(np.isfinite(arr), axis=0)).tolist()
            raise ValueError(f"{name} features hold NaN or infinite values in column(s) {bad}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1); got {test_fraction}")
    x = np.concatenate([real, gen])
    y = np.concatenate([np.zeros(len(real), dtype=np.int64), np.ones(len(gen), dtype=np.int64)])
    n_test_min = math.ceil(test_fraction * len(y))
    if min(len(real), len(gen)) < 2 or n_test_min < 2 or len(y) - n_test_min < 2:
        raise ValueError(
            f"classifier_auc needs at least 2 events per class in each split; got {len(real)} real and "
            f"{len(gen)} generated events with test_fraction={test_fraction}"
        )
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_fraction, stratify=y, random_state=seed)
    model = _make_classifier(kind, seed, max_iter)
    with threadpool_limits(limits=int(n_threads)):
        model.fit(x_train, y_train)
        score = model.predict_proba(x_test)[:, 1]
    return float(roc_auc_score(y_test, score))
