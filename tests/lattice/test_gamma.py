"""Wolff's Gamma method on AR(1) chains and on derived quantities of independent replicas."""

import numpy as np
import pytest

from twins.lattice.gamma import gamma_method


def ar1(rho, n, seed):
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=n) * np.sqrt(1 - rho**2)
    x = np.empty(n)
    x[0] = rng.normal()
    for i in range(1, n):
        x[i] = rho * x[i - 1] + noise[i]
    return x


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_tau_int_of_ar1_matches_wolff_convention(rho):
    expected = (1 + rho) / (2 * (1 - rho))  # 1/2 for independent draws
    res = gamma_method(ar1(rho, 100_000, seed=int(rho * 10)))
    assert abs(res.tau_int - expected) < max(3 * res.tau_int_error, 0.03)
    # the error of the mean is sqrt(2 tau_int / N) for unit variance
    assert res.error == pytest.approx(np.sqrt(2 * expected / 100_000), rel=0.1)


def test_derived_quantity_error_matches_independent_replicas():
    rng = np.random.default_rng(5)
    estimates, errors = [], []
    for _ in range(40):
        x = rng.normal(1.0, 1.0, 2000)
        res = gamma_method(np.stack([x, x**2], axis=1), lambda a: a[1] - a[0] ** 2)
        estimates.append(res.value)
        errors.append(res.error)
    assert np.mean(errors) == pytest.approx(np.std(estimates), rel=0.3)
    assert np.mean(estimates) == pytest.approx(1.0, abs=0.02)
