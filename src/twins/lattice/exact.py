"""Exact finite-volume results: free scalar field (lam = 0) and 2D U(1) by the character expansion.

2D U(1), Wilson action, periodic L0 x L1 lattice of V plaquettes: the plaquette angles are independent
except for the constraint that their sum vanishes mod 2 pi; writing that constraint as a Fourier sum gives

    Z(theta) = sum_n f(n + theta / 2 pi)^V,   f(nu) = 1/(2 pi) int_{-pi}^{pi} dphi e^{beta cos phi} cos(nu phi),

where theta couples to the geometric charge Q = sum_x wrap(P_x) / 2 pi and f(n) = I_n(beta). Hence
<cos P> = sum_n I_n^(V-1) I_n' / sum_n I_n^V with I_n' = (I_{n-1} + I_{n+1}) / 2, and
<Q^2> = -Z''(0) / Z(0) = -sum_n [V (V-1) I_n^(V-2) f'(n)^2 + V I_n^(V-1) f''(n)] / ((2 pi)^2 sum_n I_n^V),
with f'(nu) = -1/(2 pi) int phi sin(nu phi) e^{beta cos phi},
f''(nu) = -1/(2 pi) int phi^2 cos(nu phi) e^{beta cos phi}.
Everything is computed with the factor e^{-beta} taken out (scipy.special.ive) and normalised by I_0^V.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate, special


def free_field(shape, m2: float) -> dict[str, float]:
    """<phi^2> and chi_2 = sum_x G_c(x) for lam = 0 in our convention (covariance (2K)^-1), m2 > 0."""
    if m2 <= 0:
        raise ValueError(f"the free field needs m2 > 0, got {m2}")
    momenta = np.meshgrid(*[2 * np.pi * np.arange(n) / n for n in shape], indexing="ij")
    k_hat = m2 + sum(4 * np.sin(p / 2) ** 2 for p in momenta)
    propagator = 1.0 / (2.0 * k_hat)
    return {"phi2": float(propagator.mean()), "chi2": float(propagator.flat[0])}


def _scaled_integral(beta: float, power: int, nu: int, trig) -> float:
    value, _ = integrate.quad(
        lambda p: p**power * trig(nu * p) * np.exp(beta * (np.cos(p) - 1.0)), -np.pi, np.pi, limit=200
    )
    return value / (2 * np.pi)


def u1_exact(beta: float, volume: int, n_max: int = 40) -> dict[str, float]:
    """Finite-volume <cos P> (average plaquette) and chi_t = <Q^2> / V of 2D U(1) on V plaquettes."""
    if beta <= 0 or volume < 3:
        # for V < 3 the n-sum of the charge term decays only like 1/n^2: not worth supporting
        raise ValueError(f"u1_exact needs beta > 0 and volume >= 3, got beta={beta}, volume={volume}")
    n = np.arange(-n_max, n_max + 1)
    i0 = special.ive(0, beta)
    r = special.ive(n, beta) / i0
    r_prime = 0.5 * (special.ive(n - 1, beta) + special.ive(n + 1, beta)) / i0
    weight = r ** (volume - 1)
    z = np.sum(weight * r)
    plaquette = np.sum(weight * r_prime) / z
    f1 = np.array([-_scaled_integral(beta, 1, k, np.sin) for k in n]) / i0
    f2 = np.array([-_scaled_integral(beta, 2, k, np.cos) for k in n]) / i0
    q2 = -np.sum(volume * (volume - 1) * r ** (volume - 2) * f1**2 + volume * weight * f2) / ((2 * np.pi) ** 2 * z)
    return {"plaquette": float(plaquette), "chi_t": float(q2 / volume), "q2": float(q2)}
