"""Fréchet and kernel physics distances (FPD, KPD) between two samples of per-event feature vectors.

Both follow Kansal et al., "Evaluating generative models in high energy physics" (arXiv:2211.10295),
as implemented in the JetNet library, written here with numpy/scipy only:

- FPD: the Fréchet (2-Wasserstein) distance between Gaussians fitted to the two samples,
  |mu_1 - mu_2|^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)). Its finite-sample estimate is biased upwards
  by a term ~ 1/N, so it is computed on random subsets of several sizes N, averaged over batches per
  size, fitted linearly in 1/N, and the intercept (N -> infinity) is reported with its standard error.
- KPD: the unbiased estimator of the squared maximum mean discrepancy (MMD^2) with the cubic
  polynomial kernel k(x, y) = (x.y / d + 1)^3 (d = number of features), computed on several random
  batches; the median is reported, and half the 16.5-83.5 percentile range as its error.

Both are 0 for identical distributions (within the error) and grow with the difference. Features are
standardised with the reference sample's mean and standard deviation by default, so every feature
counts on the same scale.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from threadpoolctl import threadpool_limits

from twins.core.config import resolve_definition
from twins.core.metrics import feature_pair


def standardise(reference: np.ndarray, generated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both samples shifted and scaled by the reference's per-feature mean and standard deviation
    (a feature constant in the reference is only shifted)."""
    ref, gen = feature_pair(reference, generated)
    mean, std = ref.mean(axis=0), ref.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (ref - mean) / std, (gen - mean) / std


def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix (negative round-off eigenvalues -> 0)."""
    values, vectors = np.linalg.eigh(0.5 * (cov + cov.T))
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Fréchet distance |mu1 - mu2|^2 + tr(cov1 + cov2 - 2 (cov1 cov2)^(1/2)) of two Gaussians.

    mu: (F,) means, cov: (F, F) symmetric positive semi-definite covariance matrices (singular ones,
    e.g. from fewer events than features, are fine). tr (cov1 cov2)^(1/2) is evaluated as the sum of
    the square roots of the eigenvalues of the symmetric matrix cov1^(1/2) cov2 cov1^(1/2).
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    cov1, cov2 = np.atleast_2d(cov1).astype(np.float64), np.atleast_2d(cov2).astype(np.float64)
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (len(mu1), len(mu1)):
        raise ValueError(
            f"frechet_distance: shapes mu {mu1.shape}, {mu2.shape}, cov {cov1.shape}, {cov2.shape} do not match"
        )
    root1 = _sqrt_psd(cov1)
    inner = root1 @ cov2 @ root1
    trace_covmean = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(0.5 * (inner + inner.T)), 0.0, None)))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_covmean)


def _sample_frechet(x: np.ndarray, y: np.ndarray) -> float:
    return frechet_distance(x.mean(axis=0), np.cov(x, rowvar=False), y.mean(axis=0), np.cov(y, rowvar=False))


def fpd(
    reference: np.ndarray,
    generated: np.ndarray,
    seed: int,
    min_samples: int | None = None,
    max_samples: int | None = None,
    num_points: int | None = None,
    num_batches: int | None = None,
    normalise: bool = True,
    n_threads: int = 1,
) -> tuple[float, float]:
    """Fréchet physics distance extrapolated to infinite sample size, and its standard error.

    reference: (N_ref, F), generated: (N_gen, F) feature vectors, one row per event.
    The distance is computed at `num_points` sample sizes evenly spaced from `min_samples` to
    `max_samples` (the latter capped at the smaller sample, the former at half of that), each the mean
    over `num_batches` random subsets drawn without replacement from each sample; a straight line in 1/N
    is fitted and its intercept (with the intercept's standard error) returned.
    normalise: standardise with the reference first.
    n_threads: BLAS threads (1 by default: the matrices are small, and parallel jobs on shared cores
    make multi-threaded BLAS many times slower). Deterministic for a given seed.
    A setting left None takes its default from the schema (common.schema.yaml#/$defs/fpd: JetNet's values),
    which also checks the given ones.
    """
    given = dict(min_samples=min_samples, max_samples=max_samples, num_points=num_points, num_batches=num_batches)
    settings = resolve_definition("fpd", {k: v for k, v in given.items() if v is not None})
    min_samples, max_samples, num_points, num_batches = (settings[k] for k in given)
    ref, gen = standardise(reference, generated) if normalise else feature_pair(reference, generated)
    available = min(len(ref), len(gen))
    hi = min(int(max_samples), available)
    lo = min(int(min_samples), hi // 2)
    sizes = np.unique(np.linspace(lo, hi, int(num_points)).astype(np.int64))
    if lo < 3 or len(sizes) < 3:
        raise ValueError(
            f"fpd needs at least 3 distinct sample sizes >= 3; with {len(ref)} reference and {len(gen)} "
            f"generated events, min_samples={min_samples} and max_samples={max_samples} give {sizes.tolist()}"
        )
    rng = np.random.default_rng(seed)
    values = []
    with threadpool_limits(limits=int(n_threads)):
        for n in sizes:
            batch = [
                _sample_frechet(
                    ref[rng.choice(len(ref), n, replace=False)], gen[rng.choice(len(gen), n, replace=False)]
                )
                for _ in range(int(num_batches))
            ]
            values.append(np.mean(batch))
    fit = stats.linregress(1.0 / sizes, np.asarray(values))
    return float(fit.intercept), float(fit.intercept_stderr)


def mmd2_polynomial(x: np.ndarray, y: np.ndarray, degree: int = 3) -> float:
    """Unbiased MMD^2 of samples x (m, F) and y (n, F) with the kernel (x.y / F + 1)^degree."""
    m, n, d = len(x), len(y), x.shape[1]
    if m < 2 or n < 2:
        raise ValueError(f"mmd2_polynomial needs at least 2 events per sample; got {m} and {n}")
    k_xx = (x @ x.T / d + 1.0) ** degree
    k_yy = (y @ y.T / d + 1.0) ** degree
    k_xy = (x @ y.T / d + 1.0) ** degree
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


def kpd(
    reference: np.ndarray,
    generated: np.ndarray,
    seed: int,
    batch_size: int | None = None,
    num_batches: int | None = None,
    normalise: bool = True,
    n_threads: int = 1,
) -> tuple[float, float]:
    """Kernel physics distance: median of the unbiased cubic-kernel MMD^2 over random batches, and
    half its 16.5-83.5 percentile range as the error.

    reference: (N_ref, F), generated: (N_gen, F). Each batch draws `batch_size` events (capped at half the
    smaller sample, so that batches differ) without replacement from each sample. normalise: standardise
    with the reference first. n_threads: BLAS threads (see fpd). Deterministic for a given seed.
    A setting left None takes its default from the schema (common.schema.yaml#/$defs/kpd).
    """
    given = dict(batch_size=batch_size, num_batches=num_batches)
    settings = resolve_definition("kpd", {k: v for k, v in given.items() if v is not None})
    batch_size, num_batches = settings["batch_size"], settings["num_batches"]
    ref, gen = standardise(reference, generated) if normalise else feature_pair(reference, generated)
    size = min(int(batch_size), max(2, min(len(ref), len(gen)) // 2))
    if size < 2:
        raise ValueError(
            f"kpd needs batches of at least 2 events; got batch_size={batch_size}, samples {len(ref)}, {len(gen)}"
        )
    rng = np.random.default_rng(seed)
    with threadpool_limits(limits=int(n_threads)):
        values = np.array(
            [
                mmd2_polynomial(
                    ref[rng.choice(len(ref), size, replace=False)], gen[rng.choice(len(gen), size, replace=False)]
                )
                for _ in range(int(num_batches))
            ]
        )
    lo, hi = np.percentile(values, [16.5, 83.5])
    return float(np.median(values)), float(0.5 * (hi - lo))
