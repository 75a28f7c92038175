"""Fréchet and kernel physics distances on Gaussian samples."""

import numpy as np
import pytest

from twins.core.physics_distances import fpd, frechet_distance, kpd, mmd2_polynomial, standardise


def gaussian(n, mean, cov, seed):
    return np.random.default_rng(seed).multivariate_normal(mean, cov, size=n)


COV_A = np.array([[1.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]])
COV_B = np.diag([2.0, 0.5, 1.0])


def closed_form(mu1, cov1, mu2, cov2):
    """|dmu|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2), with the square roots from eigendecompositions."""

    def root(m):
        w, v = np.linalg.eigh(m)
        return (v * np.sqrt(w)) @ v.T

    r1 = root(cov1)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1 + cov2 - 2 * root(r1 @ cov2 @ r1)))


def test_frechet_distance_of_known_gaussians():
    # 1-D: (mu1 - mu2)^2 + (sigma1 - sigma2)^2
    assert frechet_distance([0.0], [[4.0]], [1.0], [[1.0]]) == pytest.approx(1.0 + 1.0)
    # commuting (diagonal) covariances: sum of (sqrt(a_i) - sqrt(b_i))^2
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = 3.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(np.zeros(3), np.diag(a), np.ones(3), np.diag(b)) == pytest.approx(expected)
    # general, non-commuting covariances
    mu1, mu2 = np.zeros(3), np.array([1.0, 0.5, 0.0])
    assert frechet_distance(mu1, COV_A, mu2, COV_B) == pytest.approx(closed_form(mu1, COV_A, mu2, COV_B))
    assert frechet_distance(mu1, COV_A, mu1, COV_A) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="do not match"):
        frechet_distance(mu1, COV_A, np.zeros(2), np.eye(2))


def test_fpd_extrapolates_to_the_closed_form():
    mu1, mu2 = np.zeros(3), np.array([1.0, 0.5, 0.0])
    x, y = gaussian(20000, mu1, COV_A, 1), gaussian(20000, mu2, COV_B, 2)
    value, error = fpd(x, y, seed=0, min_samples=2000, max_samples=10000, num_batches=5, normalise=False)
    exact = closed_form(mu1, COV_A, mu2, COV_B)
    assert 0 < error < 0.05
    assert value == pytest.approx(exact, abs=max(4 * error, 0.02))


def test_fpd_and_kpd_are_zero_for_one_distribution_and_positive_for_a_shift():
    mean = np.zeros(3)
    x, y = gaussian(3000, mean, COV_A, 3), gaussian(3000, mean, COV_A, 4)
    shifted = gaussian(3000, mean + [0.5, 0.0, 0.0], COV_A, 5)
    same_fpd, same_fpd_err = fpd(x, y, seed=1, min_samples=500, max_samples=3000)
    same_kpd, same_kpd_err = kpd(x, y, seed=1, batch_size=1000)
    assert abs(same_fpd) < 3 * same_fpd_err + 1e-3
    assert abs(same_kpd) < 3 * same_kpd_err + 1e-4
    shift_fpd, shift_fpd_err = fpd(x, shifted, seed=1, min_samples=500, max_samples=3000)
    shift_kpd, shift_kpd_err = kpd(x, shifted, seed=1, batch_size=1000)
    assert shift_fpd > 0.05 and shift_fpd > 10 * shift_fpd_err
    assert shift_kpd > 5 * shift_kpd_err and shift_kpd > 10 * abs(same_kpd)


def test_distances_are_deterministic_and_standardised():
    x, y = gaussian(800, np.zeros(3), COV_A, 6), gaussian(800, np.full(3, 0.2), COV_B, 7)
    assert fpd(x, y, seed=3) == fpd(x, y, seed=3)
    assert kpd(x, y, seed=3) == kpd(x, y, seed=3)
    # standardising with the reference makes the distances independent of the units
    scale = np.array([1e3, 1.0, 1e-2])
    assert fpd(x * scale, y * scale, seed=3) == pytest.approx(fpd(x, y, seed=3), rel=1e-6)
    assert kpd(x * scale, y * scale, seed=3) == pytest.approx(kpd(x, y, seed=3), rel=1e-6)
    xs, _ = standardise(x, y)
    assert np.allclose(xs.mean(axis=0), 0.0) and np.allclose(xs.std(axis=0), 1.0)


def test_mmd2_polynomial_matches_a_direct_sum():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(6, 2)), rng.normal(1.0, 1.0, size=(5, 2))

    def k(a, b):
        return (a @ b / 2 + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(6) for j in range(6) if i != j) / 30
    yy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / 20
    xy = sum(k(a, b) for a in x for b in y) / 30
    assert mmd2_polynomial(x, y) == pytest.approx(xx + yy - 2 * xy)


def test_bad_inputs_raise():
    x = np.zeros((50, 3))
    with pytest.raises(ValueError, match="same F"):
        fpd(x, np.zeros((50, 2)), seed=0)
    with pytest.raises(ValueError, match="NaN"):
        kpd(x, np.full((50, 3), np.nan), seed=0)
    with pytest.raises(ValueError, match="num_points"):
        fpd(x, x, seed=0, num_points=2)
    with pytest.raises(ValueError, match="3 distinct sample sizes"):
        fpd(x[:4], x[:4], seed=0, min_samples=2, max_samples=4)
