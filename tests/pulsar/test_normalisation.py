"""Per-channel robust normalisation of frames."""

import numpy as np
import pytest

from twins.pulsar.normalisation import normalise_frames


def test_normalisation_removes_bandpass_but_keeps_a_bright_channel():
    rng = np.random.default_rng(0)
    gain = np.linspace(0.5, 1.5, 64)
    frames = 100 * gain + 10 * gain * rng.standard_normal((3, 64, 64))
    frames[:, :, 20] += 40 * gain[20]  # a carrier
    x = normalise_frames(frames)
    assert abs(np.median(x[:, :, 5:15])) < 0.1 and np.std(x[:, :, 30:60]) == pytest.approx(1, abs=0.1)
    assert x[:, :, 20].mean() > 3
    assert np.array_equal(normalise_frames(frames, threads=2), x)  # blocks in threads: the same frames
