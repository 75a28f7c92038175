"""FETCH-style candidate images (twins.pulsar.candidates): a dispersed pulse at its DM is a vertical line in the
frequency-time image and the knot of the bow-tie at the centre of the DM-time image; the images do not depend on
the channelisation or the band order; candidates at the data's edges are zero-padded."""

import numpy as np
import pandas as pd
import pytest

from twins.core.config import resolve
from twins.pulsar.candidates import active_channels, candidate_images, coarse_step, frequency_bins
from twins.pulsar.dispersion import dispersion_delay

TSAMP = 1e-3
DEFAULT_IMAGES = resolve("pulsar.candidates.images", None)
CENTRE = DEFAULT_IMAGES["n_time"] // 2


def dispersed_pulse(nchans, foff_sign=-1, dm=80.0, t0=600, snr=20.0, sigma=2.0, n=1400, seed=0, flagged=()):
    """(data (n, nchans) float32, freqs) of a 1200-1500 MHz band: a Gaussian pulse (sigma samples) arriving at
    the top channel centre at sample t0, dispersed, in unit-sigma noise; S/N about `snr`."""
    width = 300.0 / nchans
    freqs = 1500.0 - width * (np.arange(nchans) + 0.5)
    freqs = freqs[::-1] if foff_sign > 0 else freqs
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None] - (t0 + dispersion_delay(dm, freqs, freqs.max()) / TSAMP)[None, :]
    amplitude = snr / np.sqrt(nchans * 2.5 * sigma)
    data = (rng.standard_normal((n, nchans)) + amplitude * np.exp(-0.5 * (t / sigma) ** 2)).astype(np.float32)
    data[:, list(flagged)] = 0.0
    return data, freqs


def table(samples, dms, widths):
    return pd.DataFrame({"sample": samples, "dm": dms, "width": widths})


def test_a_pulse_at_its_dm_is_a_vertical_line_and_the_knot_of_the_bow_tie():
    data, freqs = dispersed_pulse(128, snr=60.0, flagged=(6, 7, 60))
    ft, dmt = candidate_images(data, freqs, TSAMP, table([600, 600], [80.0, 0.0], [4, 4]))
    assert ft.shape == (2, 64, 64) and dmt.shape == (2, 64, 64) and ft.dtype == np.float32
    assert not ft[:, 3].any() and ft[:, 30].all()  # 2 channels a bin: bin 3 flagged, bin 30 half flagged
    profile = ft[0].mean(axis=0)  # 2 samples a pixel: the pulse (FWHM 4.7 samples) spans CENTRE-1..CENTRE+1
    assert profile.argmax() == CENTRE and profile[CENTRE] > 3.0 and profile[[CENTRE - 1, CENTRE + 1]].min() > 1.5
    assert np.abs(np.delete(profile, range(CENTRE - 2, CENTRE + 3))).max() < 0.6
    assert (np.abs(ft[0].argmax(axis=1) - CENTRE) <= 1).mean() > 0.9  # in nearly every frequency row
    # at DM 0 the sweep is not removed: the line slants off the centre columns
    assert ft[1].mean(axis=0)[CENTRE - 1 : CENTRE + 2].max() < 0.2 * profile[CENTRE]
    k, j = np.unravel_index(dmt[0].argmax(), dmt[0].shape)
    assert (k, j) == (DEFAULT_IMAGES["n_dm"] // 2, CENTRE)
    # the bow-tie: far from the candidate DM the pulse is smeared, its peak far lower than the knot
    assert dmt[0, 0].max() < 0.3 * dmt[0].max() and dmt[0, -1].max() < 0.3 * dmt[0].max()
    # row 0 is DM 0 (the half-span is the DM here): the undedispersed pulse reaches the lower channels later,
    # so its smear lies after the centre; at twice the DM it is over-corrected and lies before it
    assert dmt[0, 0, CENTRE:].mean() > 0.7 > 0.0 > dmt[0, 0, :CENTRE].mean()
    assert dmt[0, -1, :CENTRE].mean() > 0.7 > 0.0 > dmt[0, -1, CENTRE:].mean()


@pytest.mark.parametrize("nchans, sign", [(300, -1), (64, 1), (300, 1), (100, -1)])
def test_images_do_not_depend_on_the_channelisation_or_band_order(nchans, sign):
    candidate = table([600], [80.0], [4])
    reference = candidate_images(*dispersed_pulse(64, -1, snr=400.0, seed=1), TSAMP, candidate)
    other = candidate_images(*dispersed_pulse(nchans, sign, snr=400.0, seed=2), TSAMP, candidate)
    for a, b in zip(reference, other):
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9


def test_wide_pulses_are_decimated_and_still_centred():
    # width 32 samples: 16 samples a pixel, channel delays rounded to the coarse step of 4 samples
    assert coarse_step(16) == 4 and coarse_step(48) == 8 and coarse_step(24) == 4 and coarse_step(12) == 1
    data, freqs = dispersed_pulse(128, dm=300.0, t0=3000, snr=40.0, sigma=12.0, n=6000)
    ft, dmt = candidate_images(data, freqs, TSAMP, table([3000], [300.0], [32]))
    profile = ft[0].mean(axis=0)
    assert abs(int(profile.argmax()) - CENTRE + 0.5) <= 1.5 and profile.max() > 3.0
    assert abs(int(np.unravel_index(dmt[0].argmax(), dmt[0].shape)[0]) - DEFAULT_IMAGES["n_dm"] // 2) <= 1


def test_candidates_at_the_edges_are_zero_padded():
    data, freqs = dispersed_pulse(64, n=1400)
    ft, dmt = candidate_images(data, freqs, TSAMP, table([3, 1395, 10**6], [50.0, 200.0, 10.0], [2, 2, 2]))
    assert np.isfinite(ft).all() and np.isfinite(dmt).all()
    # first: 1 sample a pixel, pixel CENTRE holds sample 3: the top row's pixels 0..CENTRE-4 lie before the
    # data, the bottom row's (delayed by 52 samples at DM 50) do not
    assert not ft[0, 0, : CENTRE - 3].any() and ft[0, 0, CENTRE - 3 :].all() and ft[0, -1].all()
    # second: the lower channels' delayed windows run past the end (delay grows down the band)
    assert not ft[1, -1, :].any() and ft[1, 0, :CENTRE].all()
    assert not ft[2].any() and not dmt[2].any()  # wholly outside: all padding, no division by zero


def test_raw_data_with_its_levels_gives_the_images_of_the_normalised_data():
    # an 8-bit stream with a bandpass and a flagged channel: normalised on the fly (no whole-stream copy) or
    # beforehand, the images agree, the edges' zero padding included
    data, freqs = dispersed_pulse(64, n=1400, flagged=(5,))
    gain = np.linspace(4.0, 12.0, 64, dtype=np.float32)
    raw = np.clip(np.rint(90.0 + gain * data), 0, 255).astype(np.uint8)
    median = np.median(raw, axis=0).astype(float)
    sigma = 1.4826 * np.median(np.abs(raw - median), axis=0)
    sigma[5] = np.nan  # flagged
    normalised = np.where(np.isfinite(sigma), (raw - median) / np.where(np.isfinite(sigma), sigma, 1.0), 0.0)
    candidates = table([600, 3, 1395, 700], [80.0, 50.0, 200.0, 80.0], [2, 2, 2, 40])
    expected = candidate_images(normalised.astype(np.float32), freqs, TSAMP, candidates)
    got = candidate_images(raw, freqs, TSAMP, candidates, levels=(median, sigma))
    for e, g in zip(expected, got):
        # equal but for rounding, and a rare pixel whose sum lands exactly on 0 in one of the two (8-bit data),
        # which normalise_image then takes for padding
        assert np.mean(np.abs(g - e) > 2e-3) < 1e-3
    assert not got[0][1, 0, : CENTRE - 3].any() and not got[0][2, -1, :].any()  # the padding stays exactly 0


def test_frequency_bins_average_any_number_of_channels_top_first():
    f = 1500.0 - 300.0 / 300 * (np.arange(300) + 0.5)
    w = frequency_bins(f, 64)
    assert w.shape == (64, 300) and np.allclose(w.sum(axis=1), 1.0)
    assert np.allclose(w.sum(axis=0), 64 / 300)  # every channel counts equally in total
    assert w[0, 0] > 0 and w[-1, -1] > 0 and w[0, -1] == 0  # row 0: the top of the band
    assert np.array_equal(frequency_bins(f[::-1], 64), w[:, ::-1])  # ascending order: the same bins
    few = frequency_bins(np.array([1450.0, 1350.0, 1250.0]), 6)  # fewer channels than bins: each twice
    assert np.array_equal(few.argmax(axis=1), [0, 0, 1, 1, 2, 2])
    active = np.ones(300, dtype=bool)
    active[:10] = False  # flagged channels leave the average; a bin of flagged channels only is zero
    flagged = frequency_bins(f, 64, active)
    data = np.ones((100, 300), dtype=np.float32)
    data[:, :10] = 0.0
    assert np.array_equal(active_channels(data, block=7), active)
    assert not flagged[0].any() and np.isclose(flagged[2].sum(), 1.0) and not flagged[:, :10].any()


def test_errors_name_the_problem():
    data, freqs = dispersed_pulse(64, n=200)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['width'\]"):
        candidate_images(data, freqs, TSAMP, pd.DataFrame({"sample": [5], "dm": [1.0]}))
    with pytest.raises(ValueError, match="nchans = len"):
        candidate_images(data[:, :10], freqs, TSAMP, table([5], [1.0], [1]))
    with pytest.raises(ValueError, match="pulsar.candidates.images"):
        candidate_images(data, freqs, TSAMP, table([5], [1.0], [1]), {"n_time": 0})
    ft, dmt = candidate_images(data, freqs, TSAMP, table([], [], []))
    assert ft.shape == (0, 64, 64) and dmt.shape == (0, 64, 64)
