"""The S/N of a simulated observation's true pulses, measured on its stream (the targets' S/N)."""

import numpy as np
import pandas as pd
import pytest

from tests.pulsar.test_search import BAND, HEADER, add_pulse, noise
from twins.pulsar.dispersion import delay_samples
from twins.pulsar.search_metrics import stream_snr_at, truth_stream_snrs

DM = 100.0


def test_a_pulse_in_white_noise_measures_its_injected_snr():
    delays = delay_samples(DM, BAND.frequencies_mhz, BAND.tsamp_s)
    measured = []
    for seed in range(8):
        x = noise(seed, 4096)
        add_pulse(x, 2000, DM, 3e-3, 10.0)
        measured.append(stream_snr_at(x, delays, 2000, reach=20))
    assert np.median(measured) == pytest.approx(10.0, rel=0.1)


def test_rfi_in_the_truth_mask_does_not_count_and_a_cut_sweep_is_nan():
    delays = delay_samples(DM, BAND.frequencies_mhz, BAND.tsamp_s)
    x = noise(1, 4096)
    x[2000:2010] += 8.0  # a broadband burst where the pulse would be
    rfi = np.zeros(x.shape, bool)
    rfi[2000:2010] = True
    assert stream_snr_at(x, delays, 2000, reach=20) > 7.0
    assert stream_snr_at(x, delays, 2000, reach=20, excluded=rfi) < 5.0
    assert np.isnan(stream_snr_at(x, delays, 4096 - int(delays.max()) + 5, reach=2))


def test_truth_stream_snrs_reads_a_block_around_each_pulse():
    x = noise(2, 8192)
    add_pulse(x, 3000, DM, 3e-3, 12.0)
    add_pulse(x, 6000, DM, 3e-3, 4.0)
    truth = pd.DataFrame({"sample": [3000, 6000], "dm": [DM, DM], "width_s": [3e-3, 3e-3]})
    reads = []

    def read(start, count):
        reads.append(count)
        return x[start : start + count]

    snr = truth_stream_snrs(read, HEADER, truth, len(x))
    assert snr[0] == pytest.approx(12.0, rel=0.2) and snr[1] < 7.0
    assert max(reads) < len(x) // 2  # blocks, not the whole stream
