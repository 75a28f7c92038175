import dataclasses

import numpy as np
import pytest

from twins.tpc.metrics import response_moments
from twins.tpc.padrow import PadRowSimulator, cluster_size_table, relative_ionisation, shaper_pulse


def quiet(detector):
    """The detector without noise, zero suppression or saturation: the response is the physics alone."""
    return dataclasses.replace(detector, noise_adc=0.0, zero_suppression_adc=0.0, adc_max=1e9)


def fixed_segments(n, **values):
    base = {
        "crossing_angle": 0.0,
        "dip_angle": 0.0,
        "drift_length": 50.0,
        "pad_coordinate": 10.5,
        "pad_row": 0,
        "beta_gamma": 4.0,
    }
    base.update(values)
    return {k: np.full(n, v, dtype=np.int64 if k == "pad_row" else np.float64) for k, v in base.items()}


def test_relative_ionisation_has_its_minimum_near_beta_gamma_3_to_4():
    bg = np.geomspace(0.5, 50, 400)
    f = relative_ionisation(bg, 188.0)
    assert f.min() == pytest.approx(1.0, abs=1e-3)
    assert 2.5 < bg[np.argmin(f)] < 5
    assert relative_ionisation(np.array([0.7]), 188.0)[0] > 1.8  # 1/beta^2 rise of slow pions


def test_cluster_sizes_normalised_with_argon_mean():
    p = cluster_size_table(
        {
            "cluster_size_probabilities": [0.656, 0.15, 0.064, 0.035, 0.0225, 0.0155, 0.0105, 0.0081, 0.0061, 0.0049],
            "max_cluster_size": 200,
        }
    )
    assert p.sum() == pytest.approx(1.0)
    assert 2.5 < (np.arange(1, 201) * p).sum() < 4.0
    assert p[99] / p[49] == pytest.approx(0.25, rel=1e-6)  # the 1/n^2 delta-electron tail


def test_shaper_pulse_peaks_at_the_peaking_time():
    t = np.linspace(-100, 1000, 2201)
    h = shaper_pulse(t, 4, 160.0)
    assert h.max() == pytest.approx(1.0, abs=1e-6) and t[np.argmax(h)] == pytest.approx(160.0, abs=1)
    assert np.all(h[t <= 0] == 0)


def test_charge_scales_with_path_length(detector):
    sim = PadRowSimulator(quiet(detector))
    rng = np.random.default_rng(1)
    # the mean charge is linear in the path length (the most probable value is not: Landau)
    inner = sim.simulate(fixed_segments(1500, pad_row=0), rng).sum(axis=(1, 2))
    outer = sim.simulate(fixed_segments(1500, pad_row=40), rng).sum(axis=(1, 2))
    tilted = sim.simulate(fixed_segments(1500, pad_row=0, dip_angle=np.pi / 4), rng).sum(axis=(1, 2))
    assert np.mean(outer) / np.mean(inner) == pytest.approx(1.5, rel=0.08)  # 1.8 cm vs 1.2 cm pads
    assert np.mean(tilted) / np.mean(inner) == pytest.approx(np.sqrt(2), rel=0.08)


def test_diffusion_widens_the_response_as_the_square_root_of_the_drift(detector):
    sim = PadRowSimulator(quiet(detector))
    rng = np.random.default_rng(2)
    near = response_moments(sim.simulate(fixed_segments(800, drift_length=5.0), rng))
    far = response_moments(sim.simulate(fixed_segments(800, drift_length=155.0), rng))
    extra = (np.mean(far["pad_width"] ** 2) - np.mean(near["pad_width"] ** 2)) * detector.pad_pitch_cm**2
    assert extra == pytest.approx(detector.diffusion_transverse_cm_per_sqrt_cm**2 * 150, rel=0.3)
    assert np.mean(far["time_width"]) > np.mean(near["time_width"])


def test_centre_of_charge_follows_the_pad_coordinate(detector):
    sim = PadRowSimulator(quiet(detector))
    rng = np.random.default_rng(3)
    for frac in (0.2, 0.8):
        m = response_moments(sim.simulate(fixed_segments(300, pad_coordinate=7 + frac), rng))
        assert np.mean(m["pad_mean"]) == pytest.approx(detector.window["pads_before"] + frac - 0.5, abs=0.05)


def test_readout_is_digitised_and_zero_suppressed(detector, segments):
    responses = PadRowSimulator(detector).simulate(segments, np.random.default_rng(4))
    assert responses.shape == (len(segments["pt"]), 8, 16) and responses.dtype == np.float32
    nonzero = responses[responses > 0]
    assert nonzero.min() >= detector.zero_suppression_adc and responses.max() <= detector.adc_max
    np.testing.assert_array_equal(nonzero, np.rint(nonzero))
    again = PadRowSimulator(detector).simulate(segments, np.random.default_rng(4))
    np.testing.assert_array_equal(responses, again)
