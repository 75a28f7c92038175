"""Frames, normalisation, channel flagging (real Parkes mask), balancing, splits, PulsarRFI_Gen."""

import h5py
import numpy as np
import pytest

from tests.pulsar.pulsar_common import PARKES_MASK, REPO
from twins.pulsar.filterbank import read_filterbank
from twins.pulsar.frames import FrameGeometry, cut_frames
from twins.pulsar.preprocess import (
    balance_indices,
    flag_channels,
    normalise_frames,
    precision_recall,
    robust_zscore,
    split_frames,
)
from twins.pulsar.rfi_gen import generate_frames, parse_combination
from twins.pulsar.telescope import load_telescope


def test_cut_frames_downsamples_by_averaging_time_major():
    data = np.arange(8 * 12, dtype=np.float32).reshape(8, 12)
    frames = cut_frames(data, FrameGeometry(size=2, time_downsample=2, freq_downsample=3))
    assert frames.shape == (4, 2, 2)  # 2 time tiles x 2 frequency tiles
    np.testing.assert_allclose(frames[0, 0, 0], data[:2, :3].mean())
    np.testing.assert_allclose(frames[1, 1, 1], data[2:4, 9:12].mean())  # time tile 0, frequency tile 1
    with pytest.raises(ValueError, match="lower frames.size"):
        cut_frames(data, FrameGeometry(size=16))


def test_normalisation_removes_bandpass_but_keeps_a_bright_channel():
    rng = np.random.default_rng(0)
    gain = np.linspace(0.5, 1.5, 64)
    frames = 100 * gain + 10 * gain * rng.standard_normal((3, 64, 64))
    frames[:, :, 20] += 40 * gain[20]  # a carrier
    x = normalise_frames(frames)
    assert abs(np.median(x[:, :, 5:15])) < 0.1 and np.std(x[:, :, 30:60]) == pytest.approx(1, abs=0.1)
    assert x[:, :, 20].mean() > 3
    assert np.array_equal(normalise_frames(frames, threads=2), x)  # blocks in threads: the same frames


def test_channel_flagging_matches_the_real_parkes_mask(parkes):
    flags, values = flag_channels(read_filterbank(parkes).data)
    with h5py.File(PARKES_MASK) as f:
        truth = f["chan_mask"][...]
        np.testing.assert_allclose(values["kurtosis"], f["chan_kurt"][...], atol=1e-4)
    assert precision_recall(flags, truth)["f1"] >= 0.9


def test_robust_zscore_ignores_outliers():
    z = robust_zscore(np.r_[np.random.default_rng(1).normal(0, 1, 1000), 50.0])
    assert z[-1] > 30 and np.abs(z[:-1]).max() < 6


def test_balancing_and_splits_are_seeded():
    labels = np.zeros((100, 3), dtype=np.uint8)
    labels[:10, 0] = 1
    idx = balance_indices(labels, np.random.default_rng(0), max_oversample=4)
    assert labels[idx, 0].sum() == 40 and (labels[idx].sum(axis=1) == 0).sum() == 90
    groups = np.repeat(np.arange(10), 10)
    a = split_frames(groups, {"train": 0.6, "validation": 0.2, "test": 0.2}, np.random.default_rng(5))
    b = split_frames(groups, {"train": 0.6, "validation": 0.2, "test": 0.2}, np.random.default_rng(5))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not set(groups[a["train"]]) & set(groups[a["test"]])  # whole scans per split
    assert sum(len(v) for v in a.values()) == 100


def test_rfi_gen_frames_carry_their_classes():
    telescope = load_telescope(REPO / "resources/pulsar/effelsberg_lband.yaml")
    geometry = FrameGeometry(size=32, time_downsample=2, freq_downsample=8)
    settings = {
        "classes": ["none", "pulse", "nb_rfi+bb_rfi"],
        "frames_per_class": 4,
        "snr": {"min": 20, "max": 30},
        "sweep_fraction": [0.1, 0.5],
        "width_samples": [1, 3],
        "nb_amplitude_sigma": [3, 6],
        "bb_amplitude_sigma": [2, 5],
    }
    counts, masks, labels, snr, combos = generate_frames(
        np.random.default_rng(0), settings, geometry, telescope.frequencies_mhz, telescope.tsamp_s, telescope.digitiser
    )
    assert counts.shape == (12 * 64, 256) and counts.dtype == np.uint8
    for i, combo in enumerate(combos):
        assert tuple(c for c, b in zip(("pulse", "nb_rfi", "bb_rfi"), labels[i]) if b) == parse_combination(combo)
        assert (snr[i] > 0) == ("pulse" in combo)
    with pytest.raises(ValueError, match="unknown class"):
        parse_combination("pulse+gps")


def test_flagged_channels_are_zeroed_in_the_right_frame_columns():
    from twins.pulsar.generate import mask_channels

    geometry = FrameGeometry(size=8, time_downsample=1, freq_downsample=2)
    data = np.ones((16, 40), dtype=np.float32)  # 2 time tiles x 2 frequency tiles of 16 channels (8 left over)
    flags = np.zeros(40, dtype=bool)
    flags[[3, 20, 21, 39]] = True  # column 1 of tile 0, column 2 of tile 1; channel 39 lies in no frame
    frames = cut_frames(data, geometry)
    mask_channels(frames, flags, geometry)
    zeroed = [np.flatnonzero((frames[i] == 0).all(axis=0)).tolist() for i in range(4)]
    assert zeroed == [[1], [2], [1], [2]] and (frames != 0).sum() == 4 * 8 * 7
