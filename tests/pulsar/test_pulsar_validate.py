"""Validation metrics of the pulsar twin that the report's figures rest on."""

import numpy as np
import pytest

from twins.pulsar.validate import false_positive_rates


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
    assert false_positive_rates(pulse_pred[:4], pulse_true[:4], snr[:4])["pulse_false_positive_rate_sub_threshold_pulse"] is None
