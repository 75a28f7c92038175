"""The frame S/N of the truth: dedispersed, channel-summed, best boxcar, part tracks counted."""

import numpy as np
import pytest

from twins.pulsar.snr import dedispersed_series, series_snr


def test_frame_snr_counts_a_track_that_entered_the_frame_part_way_down_the_band():
    delays = np.arange(64) // 2  # 0..31 samples across 64 channels
    block = np.zeros((64, 64))
    block[delays + 10, np.arange(64)] = 1.0  # whole track inside: arrival at the top at sample 10
    full = series_snr(dedispersed_series(block, delays), 64)
    assert full == pytest.approx(64 / 8)  # 64 unit pixels in one sample, noise sqrt(64)
    # arrived at the top 16 samples before the frame starts: only the lower channels' part is inside
    inside = (delays - 16) >= 0
    late = np.zeros((64, 64))
    late[(delays - 16)[inside], np.arange(64)[inside]] = 1.0
    assert 0 < inside.sum() < 64
    assert series_snr(dedispersed_series(late, delays), 64) == pytest.approx(inside.sum() / 8)
