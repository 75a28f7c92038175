"""PulsarRFI_Gen: frames of the requested class combinations."""

import numpy as np
import pytest

from tests.pulsar.real_data import REPO
from twins.pulsar.frames import FrameGeometry
from twins.pulsar.rfi_gen import generate_frames, parse_combination
from twins.pulsar.telescope import load_telescope


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
