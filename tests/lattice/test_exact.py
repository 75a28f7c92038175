"""Exact free-field and 2D U(1) results against brute force."""

import numpy as np
import pytest
from scipy import integrate, special

from twins.lattice.exact import free_field, u1_exact


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
