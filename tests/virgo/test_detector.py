"""The simulated detector: scattered-light physics, sensors, catalogue, determinism, channel-file checks."""

import numpy as np
import pytest

from twins.core.config import ConfigError
from twins.virgo.detector import Transients, load_channels, optimal_snr, simulate_detector
from twins.virgo.qtransform import estimate_asd, log_frequencies, q_transform, whiten
from twins.virgo.scattering import LASER_WAVELENGTH_M


def _asd(series):
    return estimate_asd(series, fft_length=2.0, overlap=0.5, window="hann")


def test_optimal_snr_of_a_burst_in_white_noise_matches_parseval():
    fs, s0 = 4096.0, 1e-46  # white one-sided PSD
    t = np.arange(4 * 4096) / fs
    h = 1e-22 * np.exp(-(((t - 2) / 0.05) ** 2)) * np.sin(2 * np.pi * 200 * t)
    expected = np.sqrt(2 * np.sum(h**2) / fs / s0)  # rho^2 = 4 int |h~|^2 / S df = 2 int h^2 dt / S
    assert optimal_snr(h, 1 / fs, lambda f: np.full_like(f, s0), f_low=0.0) == pytest.approx(expected, rel=1e-6)


def test_transient_derivatives_are_consistent():
    tr = Transients(np.array([2.0]), np.array([3e-6]), np.array([2.0]), np.array([0.4]), np.array([0.3]))
    t = np.arange(4096 * 4) / 4096
    x, v, a = (np.zeros_like(t) for _ in range(3))
    tr.add_to(t, x, 0), tr.add_to(t, v, 1), tr.add_to(t, a, 2)
    np.testing.assert_allclose(np.gradient(x, t), v, atol=1e-3 * np.abs(v).max())
    np.testing.assert_allclose(np.gradient(v, t), a, atol=1e-3 * np.abs(a).max())


def test_simulation_is_balanced_deterministic_and_carries_truth(simulate_settings, asd_file, channels_file):
    a = simulate_detector(simulate_settings, asd_file, channels_file, seed=5)
    b = simulate_detector(simulate_settings, asd_file, channels_file, seed=5)
    strain, aux, catalogue, coupled = a
    np.testing.assert_array_equal(strain.data, b[0].data)
    np.testing.assert_array_equal(aux[2].data, b[1][2].data)
    assert (catalogue.label == "glitch").sum() == (catalogue.label == "background").sum() == 4
    assert strain.sample_rate == 4096 and aux[0].sample_rate == 1024 and strain.duration == 64
    assert coupled == [s.name for s in load_channels(channels_file) if s.source in ("bench", "scatter")]
    assert len(coupled) == 4 and all(name.startswith("V1:") for name in [strain.name] + [c.name for c in aux])
    glitches = catalogue[catalogue.label == "glitch"]
    # peak fringe frequency 2 |v|max / lambda sets the arch's top, inside the drawn range
    assert glitches.fringe_frequency_hz.between(55, 210).all()
    np.testing.assert_allclose(
        glitches.amplitude_m * 4 * np.pi * glitches.motion_frequency_hz / LASER_WAVELENGTH_M,
        glitches.fringe_frequency_hz,
    )
    other = simulate_detector(simulate_settings, asd_file, channels_file, seed=6)
    assert not np.array_equal(strain.data, other[0].data)


def test_arches_reach_the_fringe_frequency_and_witnesses_see_them(simulate_settings, asd_file, channels_file):
    strain, aux, catalogue, coupled = simulate_detector(simulate_settings, asd_file, channels_file, seed=11)
    background = catalogue[catalogue.label == "background"].gps
    asd = _asd([strain.crop(g - 3, g + 3) for g in background])
    glitch = catalogue[catalogue.label == "glitch"].sort_values("snr").iloc[-1]
    white = whiten(strain.crop(glitch.gps - 3, glitch.gps + 3), asd, crop=1.0)
    gram = q_transform(white, log_frequencies(8, 500, 64), 12.0, n_times=64, window=(white.t0, white.t_end))
    loud_rows = gram.frequencies[(gram.energy > 12.5).any(axis=1)]
    assert len(loud_rows)
    # the arch's highest frequency sits near 2|v|max/lambda (tile bandwidth ~ f/Q * sqrt(11))
    assert 0.6 * glitch.fringe_frequency_hz < loud_rows.max() < 1.6 * glitch.fringe_frequency_hz
    # a coupled witness is loud at the glitch, the common-microseism decoy is not
    names = [c.name for c in aux]
    for name, loud in ((coupled[0], True), ("V1:ENV_CEB_SEIS_Z", False)):
        c = names.index(name)
        a_asd = _asd([aux[c].crop(g - 3, g + 3) for g in background])
        a_white = whiten(aux[c].crop(glitch.gps - 3, glitch.gps + 3), a_asd, crop=1.0)
        peak = q_transform(a_white, log_frequencies(1, 128, 64), 12.0, n_times=64).energy.max()
        assert (peak > 50) == loud, name


def test_bad_channel_file_is_named(tmp_path, simulate_settings, asd_file):
    bad = tmp_path / "channels.yaml"
    bad.write_text("- {name: X, kind: sonic, unit: m, source: bench, noise: 1, response: {type: flat}}\n")
    with pytest.raises(ValueError, match="channels.yaml"):
        simulate_detector(simulate_settings, asd_file, bad, 1)


def test_scattered_light_monitor_records_the_coupling_squared(simulate_settings, asd_file, channels_file):
    """The photodiode reads P_sc = power_w (G / coupling_ref)^2 at each glitch and only noise elsewhere."""
    strain, aux, catalogue, coupled = simulate_detector(simulate_settings, asd_file, channels_file, seed=3)
    spec = next(s for s in load_channels(channels_file) if s.kind == "power")
    assert spec.name in coupled
    pd = aux[[c.name for c in aux].index(spec.name)]
    noise = spec.noise * np.sqrt(pd.sample_rate / 2)  # per-sample sigma of the white sensor noise
    for row in catalogue.itertuples():
        near = pd.crop(row.gps - 0.05, row.gps + 0.05).data.mean()  # averages the noise down ~ 10x
        if row.label == "glitch":
            expected = spec.response["power_w"] * (row.coupling / spec.response["coupling_ref"]) ** 2
            assert near == pytest.approx(expected, rel=0.05, abs=noise / 3)
        else:
            assert abs(near) < noise / 3


def test_power_kind_needs_the_scatter_source(tmp_path, simulate_settings, asd_file):
    bad = tmp_path / "channels.yaml"
    bad.write_text("- {name: X, kind: power, unit: W, source: bench, noise: 1, response: {type: flat}}\n")
    with pytest.raises(ValueError, match="kind power goes with source scatter"):
        simulate_detector(simulate_settings, asd_file, bad, 1)


def test_defaults_come_from_the_schema_and_too_few_slots_are_named(asd_file, channels_file):
    """A library caller's partial settings get the schema's defaults; a stretch holding fewer than two slots
    (a cross-field check the schema cannot express) and an out-of-range value are refused with the key."""
    with pytest.raises(ValueError, match="virgo.simulate.duration_s 16 holds fewer than 2 slots"):
        simulate_detector({"duration_s": 16, "slot_duration_s": 9}, asd_file, channels_file, 1)
    with pytest.raises(ConfigError, match="virgo.simulate.sample_rate"):
        simulate_detector({"sample_rate": 100}, asd_file, channels_file, 1)
