"""Frame geometry: cutting a dynamic spectrum into downsampled frames, and each frame's time and band."""

import numpy as np
import pytest

from twins.pulsar.frames import FrameGeometry, cut_frames, frame_coordinates


def test_cut_frames_downsamples_by_averaging_time_major():
    data = np.arange(8 * 12, dtype=np.float32).reshape(8, 12)
    frames = cut_frames(data, FrameGeometry(size=2, time_downsample=2, freq_downsample=3))
    assert frames.shape == (4, 2, 2)  # 2 time tiles x 2 frequency tiles
    np.testing.assert_allclose(frames[0, 0, 0], data[:2, :3].mean())
    np.testing.assert_allclose(frames[1, 1, 1], data[2:4, 9:12].mean())  # time tile 0, frequency tile 1
    with pytest.raises(ValueError, match="lower frames.size"):
        cut_frames(data, FrameGeometry(size=16))


def test_frame_coordinates_are_time_major():
    geometry = FrameGeometry(size=2, time_downsample=2, freq_downsample=3)
    t, f = frame_coordinates(8, 1500.0 - np.arange(12.0), 0.5, geometry)  # 2 time tiles x 2 frequency tiles
    np.testing.assert_array_equal(t, [0, 0, 2, 2])
    np.testing.assert_array_equal(f, [1500, 1494, 1500, 1494])
