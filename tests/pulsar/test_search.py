"""The stream search: FDMT against brute force, a dispersed pulse found once with its DM, time and S/N,
no candidate in noise, chunk boundaries, channel order, zero-DM clipping, the real Parkes file."""

import logging

import numpy as np
import pandas as pd
import pytest

from twins.core.config import resolve
from twins.pulsar.dedispersion_plan import make_plan
from twins.pulsar.excision import excise, excise_decimated, level_segments
from twins.pulsar.fdmt import brute_force_dedisperse, channel_delays, exact_delays, fdmt_transform, plan_fdmt
from twins.pulsar.filterbank import read_filterbank
from twins.pulsar.pulsar_dt import FWHM_PER_SIGMA, Pulsar, pulse_templates
from twins.pulsar.search import COLUMNS, plan_search, search_block, search_file
from twins.pulsar.stream import iter_chunks, read_samples
from twins.pulsar.telescope import Telescope

# a small made-up L-band receiver: 64 channels of 6.25 MHz from 1600 MHz down, 256 us
BAND = Telescope("test_band", 0, 0, 64, 1596.875, -6.25, 2.56e-4, {"knots": [[0, 1], [1, 1]]}, {})
HEADER = {"nchans": BAND.nchans, "fch1": BAND.fch1_mhz, "foff": BAND.foff_mhz, "tsamp": BAND.tsamp_s, "nbits": 32}
SETTINGS = resolve("pulsar.search", {"dm_max": 400.0})
NSAMPLES = 8192  # 2.1 s: twice the sweep at DM 400 in this band is 1.0 s


def noise(seed: int, nsamples: int = NSAMPLES) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((nsamples, BAND.nchans)).astype(np.float32)


def add_pulse(x: np.ndarray, arrival: int, dm: float, fwhm_s: float, snr: float) -> int:
    """Add a Gaussian pulse (pulsar_dt physics) arriving at `arrival` (top channel) with injected S/N `snr`:
    the optimal-boxcar S/N of the noiseless dedispersed pulse, sum over channels / sqrt(nchans w). Returns
    that optimal width (samples)."""
    pulsar = Pulsar(1.0, dm, np.zeros(1), np.array([fwhm_s / FWHM_PER_SIGMA]), np.ones(1), 0.0, 0.0, snr, 0.0)
    templates, shifts, pre = pulse_templates(pulsar, BAND)
    series = templates.sum(axis=1, dtype=np.float64)
    csum = np.concatenate([[0.0], np.cumsum(series)])
    by_width = [(csum[w:] - csum[:-w]).max() / np.sqrt(BAND.nchans * w) for w in range(1, len(series) + 1)]
    rows = np.arange(templates.shape[0])[:, None] - pre + shifts[None, :] + arrival
    x[rows, np.arange(BAND.nchans)[None, :]] += snr / max(by_width) * templates
    return int(np.argmax(by_width)) + 1


def test_fdmt_equals_brute_force_with_its_delays_and_stays_within_two_samples_of_the_cold_plasma_law():
    freqs = 1500.0 - 10.0 * np.arange(16)
    dms = np.array([0.0, 40.0, 95.0, 150.0])
    plan = plan_fdmt(freqs, dms, 1e-3)
    data = np.random.default_rng(3).standard_normal((16, 600)).astype(np.float32)
    fast = fdmt_transform(data, plan)
    brute = brute_force_dedisperse(data, channel_delays(plan))[:, : fast.shape[1]]
    np.testing.assert_allclose(fast, brute, atol=1e-4)
    assert np.array_equal(fdmt_transform(data, plan, threads=2, block=50), fast)  # pieces and threads: same sums
    # the approximation, on the search's own plan for the MeerKAT-like band: every channel within 2 samples of
    # the exact delay, and the rounded exact delays within one sample in the mean
    meerkat = make_plan(1710.328125, 3.34375, 256, 6.4e-5, dm_max=1000.0)
    for level in meerkat.levels:
        sample_s = level.factor * meerkat.tsamp
        fdmt = plan_fdmt(meerkat.frequencies_mhz, level.dms, sample_s)
        exact = exact_delays(meerkat.frequencies_mhz, level.dms, sample_s)
        error = channel_delays(fdmt) - exact
        assert np.abs(error).max() <= 2 and np.abs(error).mean() < 0.5
        assert fdmt.rows_summed < len(level.dms) * 256 / 4  # sub-quadratic: far fewer additions than brute force


def test_plan_levels_decimate_with_dm_and_clamp_dm_max_to_the_stream(caplog):
    plan = make_plan(1710.328125, 3.34375, 256, 6.4e-5, dm_max=1000.0)
    factors = [level.factor for level in plan.levels]
    assert factors == sorted(factors) and factors[0] == 2  # half the 0.25 ms narrowest pulse
    assert np.all(np.diff(plan.dms) > 0) and plan.dms[-1] >= 1000.0
    assert plan.overlap >= plan.max_delay and plan.overlap % plan.max_factor == 0
    with caplog.at_level(logging.WARNING):
        short = make_plan(1710.328125, 3.34375, 256, 6.4e-5, dm_max=1000.0, nsamples=20000)
    assert "DM 150.8" in caplog.text or "searching to DM" in caplog.text
    assert short.dms[-1] < 160 and short.dm_max_requested == 1000.0


def test_dispersed_pulse_is_found_once_with_its_dm_time_and_snr():
    x = noise(0)
    arrival = 3000
    width = add_pulse(x, arrival, 300.0, 2e-3, 15.0)
    result = search_block(x, HEADER, SETTINGS, threads=1)
    table = result.candidates
    assert list(table.columns) == COLUMNS
    assert len(table) == 1, table
    found = table.iloc[0]
    dms = result.plan.dedispersion.dms
    spacing = np.diff(dms)[np.searchsorted(dms, 300.0) - 1]
    assert abs(found["dm"] - 300.0) <= 1.5 * spacing
    assert abs(found["sample"] - arrival) <= 3 * max(width, found["width"])
    assert found["snr"] == pytest.approx(15.0, rel=0.15)
    assert found["time_s"] == pytest.approx(found["sample"] * BAND.tsamp_s)


def test_pure_noise_gives_no_candidate_above_seven():
    table = search_block(noise(1), HEADER, SETTINGS, threads=1).candidates
    assert table.empty or table["snr"].max() < 7.0


def test_a_pulse_on_a_chunk_boundary_is_found_exactly_once():
    settings = {**SETTINGS, "chunk_seconds": 0.3}
    plan = plan_search(HEADER, settings, nsamples=NSAMPLES)
    arrival = 3 * plan.chunk_samples  # the boxcars of its detections start on both sides of the boundary
    x = noise(2)
    add_pulse(x, arrival, 250.0, 3e-3, 20.0)
    table = search_block(x, plan, threads=1).candidates
    bright = table[table["snr"] > 9.0]  # (a bright pulse also leaves faint sidelobes at far-off DMs)
    assert len(bright) == 1 and abs(bright["sample"].iloc[0] - arrival) < 50
    whole = search_block(x, HEADER, SETTINGS, threads=1).candidates
    assert bright["snr"].iloc[0] == pytest.approx(whole["snr"].max(), rel=0.15)
    assert bright["dm"].iloc[0] == pytest.approx(250.0, rel=0.02)


def test_either_channel_order_gives_the_same_candidates():
    x = noise(4)
    add_pulse(x, 2500, 120.0, 1e-3, 12.0)
    descending = search_block(x, HEADER, SETTINGS, threads=2).candidates
    flipped = {**HEADER, "fch1": BAND.fch1_mhz + BAND.foff_mhz * (BAND.nchans - 1), "foff": -BAND.foff_mhz}
    ascending = search_block(x[:, ::-1].copy(), flipped, SETTINGS, threads=1).candidates
    assert len(descending) >= 1
    pd.testing.assert_frame_equal(descending, ascending)


def test_a_broadband_impulse_is_clipped_not_reported_at_zero_dm():
    x = noise(5)
    x[4000:4002] += 6.0  # zero-DM S/N about 6 * sqrt(64 * 2) = 68
    clipped = search_block(x, HEADER, SETTINGS, threads=1)
    assert clipped.excision["clipped_fraction"] > 0
    low_dm = clipped.candidates[clipped.candidates["dm"] < 20]
    assert low_dm.empty or low_dm["snr"].max() < 8
    kept = search_block(x, HEADER, {**SETTINGS, "clip_sigma": None}, threads=1).candidates
    assert (kept[kept["dm"] < 20]["snr"] > 30).any()  # without clipping it would be a bright candidate


def test_excision_normalises_flags_and_matches_its_decimated_form():
    x = 100 + 10 * noise(6, 4096)
    x[:, 7] = 50.0  # a dead channel (zero sigma)
    x[:, 20] += 30 * (np.arange(4096) % 50 == 0)  # an intermittent carrier
    cleaned, excision = excise(x, clip_sigma=None)
    assert excision.channel_flags[7] and excision.channel_flags[20] and excision.channel_flags.mean() < 0.2
    assert np.all(cleaned[:, excision.channel_flags] == 0)
    good = cleaned[:, ~excision.channel_flags]
    assert np.abs(np.median(good, axis=0)).max() < 0.1 and abs(np.std(good) - 1) < 0.05
    decimated, _ = excise_decimated(x, 2, 2048, clip_sigma=None)
    np.testing.assert_allclose(decimated, (cleaned[0::2] + cleaned[1::2]).T / np.sqrt(2), atol=1e-4)


def test_a_gain_step_inside_a_chunk_keeps_a_pulse_after_it_at_its_snr():
    # a new scan (or a receiver's gain change) halfway: the second half's channels have up to 3x the noise and
    # another bandpass. One level per chunk leaves them mis-weighted; levels per segment (here a quarter of the
    # data, a boundary on the step) do not.
    x = noise(9)
    half = NSAMPLES // 2
    gain = np.random.default_rng(1).uniform(0.5, 3.0, BAND.nchans).astype(np.float32)
    arrival = half + 1500
    add_pulse(x, arrival, 150.0, 2e-3, 12.0)
    x[half:] = x[half:] * gain + 40.0
    snr = {}
    for level_seconds in (None, NSAMPLES / 4 * BAND.tsamp_s):
        found = search_block(x, HEADER, {**SETTINGS, "level_seconds": level_seconds}, threads=1).candidates
        near = found[(found["sample"] - arrival).abs() < 200]
        snr[level_seconds] = near["snr"].max() if len(near) else 0.0
    per_segment = snr[NSAMPLES / 4 * BAND.tsamp_s]
    assert per_segment == pytest.approx(12.0, rel=0.15)
    assert snr[None] < 0.85 * per_segment


def test_level_segments_cover_the_block_in_whole_decimated_samples():
    assert level_segments(1000, 4, None) == [(0, 1000)]
    assert level_segments(1000, 4, 5000) == [(0, 1000)]
    segments = level_segments(1000, 4, 300)
    assert segments == [(0, 300), (300, 600), (600, 1000)]  # a 100-row tail joins the segment before it
    assert all(start % 4 == 0 for start, _ in segments)


def test_real_parkes_file_is_searched_chunk_by_chunk(parkes):
    fb = read_filterbank(parkes)
    assert np.array_equal(read_samples(parkes, 1000, 300), fb.data[1000:1300])
    chunks = list(iter_chunks(parkes, 1500, 200))
    assert [start for start, _ in chunks] == [0, 1500, 3000] and np.array_equal(chunks[1][1], fb.data[1500:3200])
    result = search_file(parkes, {"dm_max": 100.0})
    assert result.samples == fb.nsamples and list(result.candidates.columns) == COLUMNS
    assert 0 <= result.excision["flagged_fraction"] < 0.5 and 0 <= result.excision["clipped_fraction"] < 0.1
    assert set(result.timing) >= {"excise", "dedisperse", "boxcar", "cluster"}
