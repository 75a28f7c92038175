"""Validation metrics of the pulsar twin that the report's figures rest on."""

import numpy as np
import pytest

from twins.pulsar.metrics import accuracy_interval, false_positive_rates, operating_points


def test_false_positives_split_by_what_the_kept_frame_holds():
    # frames: 2 pulse-labelled, 4 labelled none of which 2 hold a pulse below the labelling S/N
    pulse_true = np.array([1, 1, 0, 0, 0, 0])
    snr = np.array([9.0, 12.0, 0.0, 0.0, 3.5, 4.5])
    pulse_pred = np.array([1, 0, 1, 0, 0, 1])
    rates = false_positive_rates(pulse_pred, pulse_true, snr)
    assert rates["pulse_false_positive_rate"] == pytest.approx(2 / 4)
    assert rates["pulse_false_positive_rate_no_signal"] == pytest.approx(1 / 2)
    assert rates["pulse_false_positive_rate_sub_threshold_pulse"] == pytest.approx(1 / 2)
    # no frame of a kind: None, not a made-up 0
    assert (
        false_positive_rates(pulse_pred[:4], pulse_true[:4], snr[:4])["pulse_false_positive_rate_sub_threshold_pulse"]
        is None
    )


def test_accuracy_interval_is_the_wilson_score_interval():
    low, high = accuracy_interval(1090, 1104)
    # Wilson by hand: centre and half-width for p = 1090/1104, z = 1.96
    n, p, z = 1104, 1090 / 1104, 1.959964
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert (low, high) == pytest.approx((centre - half, centre + half), abs=1e-6)
    assert low < 0.99 < high  # 0.987 on 1104 frames does not tell 0.99 apart
    assert accuracy_interval(0, 0) is None and accuracy_interval(5, 5)[1] == pytest.approx(1.0)


def test_operating_points_trade_recall_for_false_positives():
    rng = np.random.default_rng(0)
    snr = np.concatenate([rng.uniform(7, 20, 200), np.zeros(300), rng.uniform(3, 5, 100)])
    pulse_true = (snr >= 5).astype(np.uint8)
    # a classifier whose pulse probability rises with S/N
    p_pulse = np.clip(snr / 20 + rng.normal(0, 0.1, snr.size), 0, 1)
    points = operating_points(p_pulse, pulse_true, snr)
    accuracy = [p["pulse_accuracy_snr_ge_7"] for p in points]
    false_pos = [p["pulse_false_positive_rate"] for p in points]
    assert [p["threshold"] for p in points] == sorted(p["threshold"] for p in points)
    assert all(np.diff(accuracy) <= 0) and all(np.diff(false_pos) <= 0)  # higher threshold: fewer of both
    assert accuracy[0] == 1.0 and accuracy[-1] < 0.5
    assert points[0]["pulse_false_positive_rate_sub_threshold_pulse"] > points[0]["pulse_false_positive_rate_no_signal"]
