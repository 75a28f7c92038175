"""Detector noise: the Advanced-Virgo-like PSD fit."""

import numpy as np

from twins.virgo.noise import load_psd_fit


def test_advirgo_fit_has_design_sensitivity(asd_file):
    psd = load_psd_fit(asd_file)
    asd = np.sqrt(psd(np.array([10.0, 200.0, 2000.0])))
    assert 3e-24 < asd[1] < 1e-23  # bucket of Advanced Virgo design
    assert asd[0] > 10 * asd[1] and asd[2] > asd[1]  # seismic/thermal wall below, shot noise above
