"""Histogram distances, moment errors and the classifier test of twins.core.metrics."""

import math

import numpy as np
import pytest

from twins.core.metrics import (
    classifier_auc,
    histogram,
    jensen_shannon_divergence,
    relative_moment_error,
    separation_power,
    shared_bins,
)


def _binned(a, b, n_bins=40):
    edges = shared_bins(a, b, n_bins)
    return histogram(a, edges), histogram(b, edges)


@pytest.mark.parametrize("metric", [separation_power, jensen_shannon_divergence])
def test_identical_histograms_give_zero(metric):
    p = np.array([3.0, 5.0, 0.0, 2.0])
    assert metric(p, p) == pytest.approx(0.0, abs=1e-12)
    assert metric(p, 7 * p) == pytest.approx(0.0, abs=1e-12)  # only the shape counts


@pytest.mark.parametrize("metric", [separation_power, jensen_shannon_divergence])
def test_disjoint_histograms_give_one(metric):
    assert metric(np.array([4.0, 1.0, 0.0, 0.0]), np.array([0.0, 0.0, 2.0, 9.0])) == pytest.approx(1.0)


def test_separation_power_known_value():
    # 1/2 [ (1 - 1/2)^2 / (3/2) + (0 - 1/2)^2 / (1/2) ] = 1/2 (1/6 + 1/2) = 1/3
    assert separation_power(np.array([1.0, 0.0]), np.array([1.0, 1.0])) == pytest.approx(1.0 / 3.0)


def test_jensen_shannon_known_value():
    # M = (3/4, 1/4); KL(p||M) = log2(4/3); KL(q||M) = 1/2 log2(2/3) + 1/2 log2(2)
    expected = 0.5 * math.log2(4 / 3) + 0.5 * (0.5 * math.log2(2 / 3) + 0.5)
    assert jensen_shannon_divergence(np.array([1.0, 0.0]), np.array([1.0, 1.0])) == pytest.approx(expected)


@pytest.mark.parametrize("metric", [separation_power, jensen_shannon_divergence])
def test_distance_grows_with_shift(metric):
    rng = np.random.default_rng(0)
    reference = rng.normal(0.0, 1.0, 20000)
    values = []
    for shift in (0.0, 0.5, 1.0, 2.0, 4.0):
        generated = rng.normal(shift, 1.0, 20000)
        values.append(metric(*_binned(reference, generated)))
    assert values[0] < 0.01
    assert all(a < b for a, b in zip(values, values[1:])), values
    assert values[-1] > 0.8


@pytest.mark.parametrize("metric", [separation_power, jensen_shannon_divergence])
def test_histogram_errors_name_the_problem(metric):
    with pytest.raises(ValueError, match="share one binning"):
        metric(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="empty"):
        metric(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        metric(np.array([1.0, -1.0]), np.ones(2))


def test_shared_bins_span_both_samples():
    edges = shared_bins(np.array([1.0, 2.0, np.nan]), np.array([-3.0, 5.0]), 8)
    assert edges.shape == (9,)
    assert edges[0] == -3.0 and edges[-1] == 5.0
    assert np.allclose(np.diff(edges), 1.0)


def test_shared_bins_log_are_geometric_over_positive_values():
    edges = shared_bins(np.array([0.0, 1e-3, 1.0]), np.array([-1.0, 10.0]), 4, log=True)
    assert edges[0] == pytest.approx(1e-3) and edges[-1] == pytest.approx(10.0)
    assert np.allclose(edges[1:] / edges[:-1], 10.0)


def test_shared_bins_single_value_and_errors():
    edges = shared_bins(np.array([2.0, 2.0]), np.array([2.0]), 4)
    assert edges[0] < 2.0 < edges[-1]
    with pytest.raises(ValueError, match="positive finite"):
        shared_bins(np.array([0.0, -1.0]), np.array([0.0]), 4, log=True)
    with pytest.raises(ValueError, match="n_bins"):
        shared_bins(np.array([1.0]), np.array([2.0]), 0)


def test_histogram_keeps_under_and_overflow():
    counts = histogram(np.array([-10.0, 0.5, 1.5, 99.0, np.nan]), np.array([0.0, 1.0, 2.0]))
    assert counts.tolist() == [2.0, 2.0]


def test_relative_moment_error_known_values():
    errors = relative_moment_error(np.array([1.0, 3.0]), np.array([2.0, 6.0]))
    # means 2 -> 4, standard deviations 1 -> 2
    assert errors == pytest.approx({"mean": 1.0, "std": 1.0, "mean_shift": 2.0})


def test_relative_moment_error_is_none_for_zero_reference_moment():
    errors = relative_moment_error(np.array([-1.0, 1.0]), np.array([0.0, 2.0]))
    assert errors["mean"] is None
    assert errors["mean_shift"] == pytest.approx(1.0)
    assert relative_moment_error(np.array([2.0, 2.0]), np.array([2.0, 3.0]))["std"] is None
    with pytest.raises(ValueError, match="finite values"):
        relative_moment_error(np.array([np.nan]), np.array([1.0]))


def test_classifier_auc_is_half_for_the_same_distribution():
    rng = np.random.default_rng(1)
    real, gen = rng.normal(size=(1500, 4)), rng.normal(size=(1500, 4))
    assert classifier_auc(real, gen, seed=3) == pytest.approx(0.5, abs=0.06)


@pytest.mark.parametrize("kind", ["hgb", "mlp"])
def test_classifier_auc_is_one_for_separated_distributions(kind):
    rng = np.random.default_rng(2)
    real = rng.normal(size=(600, 3))
    gen = rng.normal(size=(600, 3)) + np.array([4.0, 0.0, 0.0])
    assert classifier_auc(real, gen, seed=5, kind=kind) > 0.97


def test_classifier_auc_detects_a_moderate_shift_and_is_deterministic():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(800, 2))
    gen = rng.normal(size=(800, 2)) * np.array([2.0, 1.0])  # same mean, twice as wide in one feature
    first = classifier_auc(real, gen, seed=11)
    assert 0.58 < first < 0.8  # seeds 0-7 give 0.63-0.70
    assert classifier_auc(real, gen, seed=11) == first


def test_classifier_auc_rejects_bad_input():
    good = np.zeros((10, 2))
    with pytest.raises(ValueError, match="same F"):
        classifier_auc(good, np.zeros((10, 3)), seed=0)
    bad = good.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"column\(s\) \[1\]"):
        classifier_auc(good, bad, seed=0)
    with pytest.raises(ValueError, match="kind"):
        classifier_auc(good, good + 1, seed=0, kind="svm")
    with pytest.raises(ValueError, match="test_fraction"):
        classifier_auc(good, good, seed=0, test_fraction=1.5)
    with pytest.raises(ValueError, match="at least 2 events"):
        classifier_auc(good[:1], good, seed=0)
