"""Wolff's Gamma method on AR(1) chains; exact free-field and 2D U(1) results against brute force."""

import numpy as np
import pytest
from scipy import integrate, special

from twins.lattice.exact import free_field, u1_exact
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


def test_free_field_matches_matrix_inversion():
    shape, m2 = (4, 3), 0.7
    n = int(np.prod(shape))
    idx = np.arange(n).reshape(shape)
    kernel = (4 + m2) * np.eye(n)
    for axis in range(2):
        for sign in (1, -1):
            kernel[idx.ravel(), np.roll(idx, sign, axis=axis).ravel()] -= 1
    cov = np.linalg.inv(2 * kernel)
    exact = free_field(shape, m2)
    assert exact["phi2"] == pytest.approx(np.trace(cov) / n)
    assert exact["chi2"] == pytest.approx(cov.sum() / n)


def test_u1_exact_large_volume_limit_and_bad_input():
    big = u1_exact(2.0, 4096)
    assert big["plaquette"] == pytest.approx(special.i1(2.0) / special.i0(2.0), rel=1e-10)
    with pytest.raises(ValueError, match="volume"):
        u1_exact(2.0, 2)


def test_u1_exact_matches_direct_integration_on_three_plaquettes():
    """V = 3: plaquettes a, b, -(a + b) (their sum vanishes mod 2 pi); Q = +-1 where |a + b| > pi."""
    beta = 0.8
    weight = lambda b, a: np.exp(beta * (np.cos(a) + np.cos(b) + np.cos(a + b)))  # noqa: E731
    z = integrate.dblquad(weight, -np.pi, np.pi, -np.pi, np.pi)[0]
    q2 = 2 * integrate.dblquad(weight, 0, np.pi, lambda a: np.pi - a, lambda a: np.pi)[0] / z
    plaq = integrate.dblquad(lambda b, a: weight(b, a) * np.cos(a), -np.pi, np.pi, -np.pi, np.pi)[0] / z
    exact = u1_exact(beta, 3)
    assert exact["q2"] == pytest.approx(q2, rel=1e-8)
    assert exact["plaquette"] == pytest.approx(plaq, rel=1e-8)
