"""Wolff's Gamma method (U. Wolff, Comput. Phys. Commun. 156 (2004) 143, hep-lat/0306017).

Errors of primary means and of derived quantities f(<a_1>, ..., <a_R>) from one Markov chain, with the
integrated autocorrelation time in Wolff's convention, tau_int = 1/2 + sum_{t>=1} rho(t) (a chain of
independent draws has tau_int = 1/2; the emcee convention is twice this). The summation window W is chosen
automatically (Wolff's criterion with S = 1.5). Written here rather than taken from pyerrors, which would
pull in iminuit, autograd and lxml for one function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GammaResult:
    value: float
    error: float
    tau_int: float  # Wolff's convention: 1/2 for uncorrelated data
    tau_int_error: float
    window: int
    n: int

    def as_dict(self) -> dict[str, float]:
        return {
            "value": self.value,
            "error": self.error,
            "tau_int": self.tau_int,
            "tau_int_error": self.tau_int_error,
            "window": self.window,
            "n": self.n,
        }


def autocovariance(series: np.ndarray) -> np.ndarray:
    """Gamma(t) = 1/(N - t) sum_i d_i d_{i+t} of the mean-subtracted 1-D series, t = 0..N-1 (by FFT)."""
    d = np.asarray(series, dtype=np.float64) - np.mean(series)
    n = d.size
    spectrum = np.fft.rfft(d, 2 * n)
    acov = np.fft.irfft(spectrum * np.conj(spectrum))[:n]
    return acov / np.arange(n, 0, -1)


def gamma_method(
    data: np.ndarray,
    derived: Callable[[np.ndarray], float] | None = None,
    s_tau: float = 1.5,
) -> GammaResult:
    """Mean (or `derived` of the means) with its Gamma-method error.

    data: (N,) one primary observable, or (N, R) R primary observables measured on the same N
        consecutive configurations of one chain.
    derived: f(means (R,)) -> float; its gradient is taken by central differences (Wolff's projection).
    s_tau: Wolff's S; the window is the first W where exp(-W/tau_W) - tau_W / sqrt(W N) < 0.
    """
    data = np.asarray(data, dtype=np.float64)
    if data.ndim == 1:
        data = data[:, None]
    n = data.shape[0]
    if n < 2:
        raise ValueError(f"gamma_method needs at least 2 measurements, got {n}")
    means = data.mean(axis=0)
    if derived is None:
        if data.shape[1] != 1:
            raise ValueError("several primary observables need a `derived` function")
        value, grad = float(means[0]), np.ones(1)
    else:
        value = float(derived(means))
        scale = np.maximum(data.std(axis=0), 1e-12) / np.sqrt(n)
        grad = np.empty(data.shape[1])
        for r in range(data.shape[1]):
            step = np.zeros_like(means)
            step[r] = scale[r]
            grad[r] = (derived(means + step) - derived(means - step)) / (2 * scale[r])
    projected = data @ grad
    gamma = autocovariance(projected)
    if gamma[0] <= 0:  # a constant observable: no fluctuation, no error
        return GammaResult(value, 0.0, 0.5, 0.0, 0, n)
    window = n - 1
    for w in range(1, n):
        tau = gamma[0] / 2 + gamma[1 : w + 1].sum()
        tau /= gamma[0]
        tau_w = s_tau / np.log((2 * tau + 1) / (2 * tau - 1)) if tau > 0.5 else 1e-12
        if np.exp(-w / tau_w) - tau_w / np.sqrt(w * n) < 0:
            window = w
            break
    c_f = gamma[0] + 2 * gamma[1 : window + 1].sum()
    c_f *= 1 + (2 * window + 1) / n  # Wolff's bias correction of the window sum
    tau_int = max(c_f / (2 * gamma[0]), 0.5) if c_f > 0 else 0.5
    tau_err = tau_int * np.sqrt(max(4.0 / n * (window + 0.5 - tau_int), 0.0))
    error = float(np.sqrt(max(c_f, 0.0) / n))
    return GammaResult(value, error, float(tau_int), float(tau_err), int(window), n)
