"""Injection into real and simulated backgrounds: splits, noise levels, drawn pulses that fit their split, and
pulses whose S/N is the requested one, in any channel order, with flagged channels left alone."""

import numpy as np
import pandas as pd
import pytest

from tests.pulsar.real_data import PARKES, PARKES_MASK, REPO, require
from twins.pulsar.backgrounds import (
    noise_levels,
    normalise,
    simulated_background,
    telescope_from_header,
    time_ranges,
)
from twins.pulsar.dispersion import delay_samples
from twins.pulsar.injection import _pulsar, draw_injections, fitting_dm_max, inject, pulse_extent
from twins.pulsar.io import read_channel_mask, read_observation
from twins.pulsar.pulsar_dt import pulse_templates
from twins.pulsar.snr import injected_snr, measured_snr
from twins.pulsar.telescope import load_telescope

# 64 channels of 4 MHz from 1500 MHz down, 1 ms samples: ~0.8 samples of sweep per unit DM
HEADER = {"nchans": 64, "fch1": 1500.0, "foff": -4.0, "tsamp": 1e-3}
SETTINGS = {
    "dm": {"min": 5.0, "max": 400.0},
    "width_s": {"min": 5e-4, "max": 2e-2},
    "snr": {"min": 5.0, "max": 20.0},
    "scattering_ms_at_1ghz": {"min": 0.0, "max": 2.0},
    "spectral_index": {"min": -2.0, "max": 0.0},
    "per_realisation": 4,
    "margin_widths": 3.0,
}


def one_pulse(sample=300, dm=60.0, width_s=3e-3, snr=15.0, tau=5e-4, index=-1.5):
    return pd.DataFrame(
        {
            "sample": [sample],
            "dm": [dm],
            "width_s": [width_s],
            "tau_1ghz_s": [tau],
            "spectral_index": [index],
            "snr": [snr],
        }
    )


def test_time_ranges_are_contiguous_disjoint_and_cover_the_stream():
    ranges = time_ranges(4096)
    assert list(ranges) == ["train", "validation", "test"]
    assert ranges["train"][0] == 0 and ranges["test"][1] == 4096
    assert ranges["train"][1] == ranges["validation"][0] and ranges["validation"][1] == ranges["test"][0]
    assert ranges["train"][1] == round(0.6 * 4096)
    samples = np.concatenate([np.arange(a, b) for a, b in ranges.values()])
    np.testing.assert_array_equal(samples, np.arange(4096))
    with pytest.raises(ValueError, match="fractions"):
        time_ranges(100, {"train": 0.7, "test": 0.2})


def test_noise_levels_are_robust_and_mark_flagged_and_dead_channels():
    rng = np.random.default_rng(0)
    data = 90 + 7.0 * rng.standard_normal((4000, 6))
    data[::50, 1] = 255  # impulses barely move a MAD
    data[:, 2] = 40  # dead channel
    flags = np.array([False, False, False, True, False, False])
    median, sigma = noise_levels(data, flags)
    assert np.all(np.isfinite(median))
    np.testing.assert_array_equal(np.isfinite(sigma), [True, True, False, False, True, True])
    np.testing.assert_allclose(sigma[[0, 1, 4, 5]], 7.0, rtol=0.1)
    z = normalise(data, median, sigma)
    assert np.all(z[:, 2:4] == 0) and abs(np.std(z[:, 0]) - 1) < 0.1


@pytest.mark.parametrize(("dm", "width", "tau"), [(5.0, 5e-4, 0.0), (120.0, 2e-2, 2e-3), (333.0, 4e-3, 1e-3)])
def test_pulse_extent_is_the_footprint_of_pulsar_dt_templates(dm, width, tau):
    row = one_pulse(dm=dm, width_s=width, tau=tau).iloc[0]
    templates, shifts, pre = pulse_templates(_pulsar(row), telescope_from_header(HEADER))
    assert pulse_extent(dm, width, tau, HEADER) == (pre, shifts.max(), templates.shape[0] - pre)


def test_drawn_dms_fit_the_span_and_pulses_do_not_overlap():
    rng = np.random.default_rng(1)
    span, start = 400, 1000
    dm_max = fitting_dm_max(SETTINGS, HEADER, span)
    assert 5 < dm_max < 400  # the span limits the DM
    assert sum(pulse_extent(dm_max, 2e-2, 2e-3, HEADER)) <= span < sum(pulse_extent(dm_max + 1, 2e-2, 2e-3, HEADER))
    counts = []
    for _ in range(30):
        table = draw_injections(rng, SETTINGS, HEADER, span, start)
        assert table.attrs["dm_max_effective"] == dm_max and table["dm"].max() <= dm_max
        assert table["first_sample"].min() >= start and table["stop_sample"].max() <= start + span
        gap = np.ceil(3 * table["width_s"].max() / HEADER["tsamp"])
        assert np.all(table["first_sample"].to_numpy()[1:] - table["stop_sample"].to_numpy()[:-1] >= gap)
        assert table["width_s"].between(5e-4, 2e-2).all() and table["snr"].between(5, 20).all()
        counts.append(len(table))
    assert max(counts) > 1 and min(counts) >= 1
    with pytest.raises(ValueError, match="span of 40 samples too short for DM >= 5"):
        draw_injections(rng, SETTINGS, HEADER, 40)


def test_draws_are_deterministic_for_a_seed():
    a = draw_injections(np.random.default_rng(7), SETTINGS, HEADER, 2000)
    b = draw_injections(np.random.default_rng(7), SETTINGS, HEADER, 2000)
    pd.testing.assert_frame_equal(a, b)


def test_injected_snr_is_the_requested_one_in_normalised_units():
    rng = np.random.default_rng(2)
    sigma = rng.uniform(2, 10, HEADER["nchans"])
    median = rng.uniform(50, 150, HEADER["nchans"])
    data = np.broadcast_to(median, (1200, HEADER["nchans"])).astype(np.uint8)
    injections = pd.concat([one_pulse(sample=100, dm=40.0, snr=8.0), one_pulse(sample=600, dm=300, width_s=6e-4)])
    injected, truth = inject(data, HEADER, injections, sigma)
    z = (injected - data) / sigma
    freqs = HEADER["fch1"] + HEADER["foff"] * np.arange(HEADER["nchans"])
    for row in truth.itertuples():
        pre, sweep, post = pulse_extent(row.dm, row.width_s, row.tau_1ghz_s, HEADER)
        part = z[row.sample - pre : row.sample + sweep + post]
        measured = injected_snr(part, delay_samples(row.dm, freqs, HEADER["tsamp"]))
        assert measured == pytest.approx(row.snr_requested, rel=0.01)
        assert row.snr == pytest.approx(row.snr_requested, rel=1e-6) and row.inside_fraction == pytest.approx(1)
        assert row.width_samples_best >= 1 and row.fluence > 0
    np.testing.assert_allclose(truth["time_s"], [0.1, 0.6])


def test_injected_snr_is_what_a_search_measures_in_unit_noise():
    rng = np.random.default_rng(3)
    freqs = HEADER["fch1"] + HEADER["foff"] * np.arange(HEADER["nchans"])
    ratios = []
    for _ in range(8):
        noise = rng.standard_normal((1024, HEADER["nchans"]), dtype=np.float32)
        injected, truth = inject(noise, HEADER, one_pulse(sample=400, snr=20.0), np.ones(HEADER["nchans"]))
        delays = delay_samples(truth["dm"].iloc[0], freqs, HEADER["tsamp"])
        ratios.append(measured_snr(injected, delays) / 20.0)
    assert np.median(ratios) == pytest.approx(1.0, abs=0.2)


def test_flagged_and_dead_channels_get_no_signal_and_the_input_is_unchanged():
    data = np.full((800, HEADER["nchans"]), 100.0, dtype=np.float32)
    before = data.copy()
    sigma = np.full(HEADER["nchans"], 5.0)
    sigma[[3, 10]] = np.nan  # flagged
    sigma[[20, 40]] = 0.0  # dead
    injected, truth = inject(data, HEADER, one_pulse(sample=200, width_s=1e-2), sigma)
    np.testing.assert_array_equal(data, before)
    assert injected is not data
    added = injected - data
    assert np.all(added[:, [3, 10, 20, 40]] == 0) and np.all(added.max(axis=0)[[0, 30, 63]] > 0)
    assert truth["snr"].iloc[0] == pytest.approx(15.0, rel=1e-6)


def test_a_pulse_cut_by_the_end_of_the_data_has_its_realised_snr():
    data = np.zeros((500, HEADER["nchans"]), dtype=np.float32)
    whole = inject(data, HEADER, one_pulse(sample=300, dm=200.0), np.ones(64), first_sample=0)[1].iloc[0]
    cut = inject(data, HEADER, one_pulse(sample=300, dm=200.0), np.ones(64), first_sample=-200)[1].iloc[0]
    assert whole["inside_fraction"] == pytest.approx(1.0) and whole["snr"] == pytest.approx(15.0)
    assert cut["inside_fraction"] < 0.9 and cut["snr"] < 15.0 and cut["snr_requested"] == 15.0


def test_simulated_background_has_the_preset_bandpass_and_level():
    telescope = load_telescope(REPO / "resources/pulsar/meerkat_lband.yaml")
    rng = np.random.default_rng(4)
    counts = simulated_background(rng, telescope, 0.2, None)
    assert counts.dtype == np.float32 and counts.shape == (int(0.2 / telescope.tsamp_s), telescope.nchans)
    assert np.all(counts == np.rint(counts)) and counts.min() >= 0 and counts.max() <= 255
    gain = telescope.bandpass_gain(np.random.default_rng(4))  # the same draw as inside
    median, sigma = noise_levels(counts)
    np.testing.assert_allclose(median, 96.0 * gain, atol=1.5)  # 4 sigma of a median of 3125
    np.testing.assert_allclose(np.nanmedian(sigma / gain), 14.0, rtol=0.05)
    rfi = {
        "nb_carriers_per_scan": 3.0,
        "nb_intermittent_fraction": 0.0,
        "nb_amplitude_sigma": {"min": 5, "max": 8},
        "bb_rate_hz": 0.0,
        "bb_max_width_samples": 1,
        "bb_amplitude_sigma": {"min": 1, "max": 2},
    }
    with_rfi = simulated_background(np.random.default_rng(5), telescope, 0.1, rfi)
    assert (np.median(with_rfi, axis=0) - 96.0 * gain > 30).any()


def test_telescope_from_header_reproduces_the_preset_templates():
    telescope = load_telescope(REPO / "resources/pulsar/effelsberg_lband.yaml")
    pulsar = _pulsar(one_pulse().iloc[0])
    expected = pulse_templates(pulsar, telescope)
    got = pulse_templates(pulsar, telescope_from_header(telescope.header("x")))
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


def test_parkes_injection_is_the_same_in_either_channel_order():
    require(PARKES, PARKES_MASK)
    fb = read_observation(PARKES).in_descending_order()
    flags = read_channel_mask(PARKES_MASK)
    start, stop = time_ranges(fb.nsamples)["test"]
    table = draw_injections(np.random.default_rng(6), SETTINGS, fb.header, stop - start, start)
    assert table.attrs["dm_max_effective"] < 60  # 2.1 s of 706-4030 MHz: ~16 samples of sweep per unit DM
    median, sigma = noise_levels(fb.data, flags)
    down, truth_down = inject(fb.data, fb.header, table, sigma)
    up_fb = fb.in_ascending_order()
    up, truth_up = inject(up_fb.data, up_fb.header, table, sigma[::-1])
    pd.testing.assert_frame_equal(truth_down, truth_up, rtol=1e-6)
    np.testing.assert_allclose(up[:, ::-1], down, rtol=0, atol=1e-4)
    assert np.all(down[:, flags] == fb.data[:, flags])
    np.testing.assert_allclose(truth_down["snr"], truth_down["snr_requested"], rtol=1e-6)
    assert np.all(truth_down["first_sample"] >= start) and np.all(truth_down["stop_sample"] <= stop)


def test_measured_snr_units_follow_noise_that_channels_share():
    # every channel carries the same slow noise besides its own: the channel sum's noise is 3x the radiometer
    # value at this width, and a pulse injected at S/N 12 in measured units must measure S/N 12 there
    rng = np.random.default_rng(5)
    n, nchans = 4000, HEADER["nchans"]
    common = np.repeat(rng.standard_normal(n // 8), 8)[:, None] * 0.6
    data = (rng.standard_normal((n, nchans)) + common).astype(np.float32) * 3 + 100
    median, sigma = noise_levels(data)
    pulse = one_pulse(sample=1500, dm=50.0, width_s=8e-3, snr=12.0, tau=0.0)
    pulse.attrs = {"snr_noise": "measured"}
    injected, truth = inject(data, HEADER, pulse, sigma)
    assert truth["noise_excess"][0] > 2
    assert truth["snr"][0] == pytest.approx(12.0, rel=1e-6)
    freqs = HEADER["fch1"] + HEADER["foff"] * np.arange(nchans)
    seen = measured_snr(normalise(injected, median, sigma), delay_samples(50.0, freqs, HEADER["tsamp"]))
    assert seen == pytest.approx(12.0, rel=0.25)
    assert truth["snr_radiometer"][0] == pytest.approx(12.0 * truth["noise_excess"][0], rel=1e-6)
    pulse.attrs = {"snr_noise": "radiometer"}
    _, plain = inject(data, HEADER, pulse, sigma)
    assert plain["noise_excess"][0] == 1.0 and plain["snr"][0] == pytest.approx(12.0, rel=1e-6)


def test_stream_snr_holds_the_noise_under_the_pulse():
    # white noise: the S/N measured at the true DM and width scatters about the injected one by about 1
    rng = np.random.default_rng(9)
    data = (rng.standard_normal((20000, HEADER["nchans"])) * 4 + 90).astype(np.float32)
    median, sigma = noise_levels(data)
    pulses = pd.concat([one_pulse(sample=400 + 900 * k, dm=30.0, width_s=4e-3, snr=10.0, tau=0.0) for k in range(20)])
    pulses.attrs = {"snr_noise": "measured"}
    _, truth = inject(data, HEADER, pulses.reset_index(drop=True), sigma, median=median)
    difference = truth["snr_stream"] - truth["snr"]
    assert abs(difference.mean()) < 0.6 and 0.4 < difference.std() < 1.6
