"""RFI channel flagging: the real Parkes mask, the robust z-score, flagged channels zeroed in frames."""

import h5py
import numpy as np

from tests.pulsar.real_data import PARKES_MASK
from twins.pulsar.filterbank import read_filterbank
from twins.pulsar.flagging import flag_channels, mask_channels, robust_zscore
from twins.pulsar.frames import FrameGeometry, cut_frames
from twins.pulsar.metrics import precision_recall


def test_channel_flagging_matches_the_real_parkes_mask(parkes):
    flags, values = flag_channels(read_filterbank(parkes).data)
    with h5py.File(PARKES_MASK) as f:
        truth = f["chan_mask"][...]
        np.testing.assert_allclose(values["kurtosis"], f["chan_kurt"][...], atol=1e-4)
    assert precision_recall(flags, truth)["f1"] >= 0.9


def test_robust_zscore_ignores_outliers():
    z = robust_zscore(np.r_[np.random.default_rng(1).normal(0, 1, 1000), 50.0])
    assert z[-1] > 30 and np.abs(z[:-1]).max() < 6


def test_flagged_channels_are_zeroed_in_the_right_frame_columns():
    geometry = FrameGeometry(size=8, time_downsample=1, freq_downsample=2)
    data = np.ones((16, 40), dtype=np.float32)  # 2 time tiles x 2 frequency tiles of 16 channels (8 left over)
    flags = np.zeros(40, dtype=bool)
    flags[[3, 20, 21, 39]] = True  # column 1 of tile 0, column 2 of tile 1; channel 39 lies in no frame
    frames = cut_frames(data, geometry)
    mask_channels(frames, flags, geometry)
    zeroed = [np.flatnonzero((frames[i] == 0).all(axis=0)).tolist() for i in range(4)]
    assert zeroed == [[1], [2], [1], [2]] and (frames != 0).sum() == 4 * 8 * 7
