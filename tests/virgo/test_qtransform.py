"""Whitening and the constant-Q transform: noise statistics, tile placement, the real GW150914 chirp."""

import numpy as np
import pytest

from tests.virgo.settings import ASD_FILE, GW150914
from twins.virgo.io import ASD, TimeSeries, read_gwosc
from twins.virgo.noise import coloured_noise, load_psd_fit
from twins.virgo.qtransform import estimate_asd, event_qscan, log_frequencies, q_transform, whiten

FS = 4096.0
WELCH = {"overlap": 0.5, "window": "hann"}


@pytest.fixture(scope="module")
def coloured():
    psd = load_psd_fit(ASD_FILE)
    data = coloured_noise(int(64 * FS), FS, psd, np.random.default_rng(3))
    return TimeSeries(data, 1000.0, 1 / FS, "V1:TEST", "strain"), psd


def test_estimated_asd_matches_the_psd_it_was_drawn_from(coloured):
    series, psd = coloured
    asd = estimate_asd(series, fft_length=2.0, **WELCH)
    for low, high in ((20, 60), (60, 200), (200, 600), (600, 1800)):  # band averages: single bins scatter ~15 %
        band = (asd.frequencies >= low) & (asd.frequencies < high)
        ratio = asd.values[band] / np.sqrt(psd(asd.frequencies[band]))
        assert ratio.mean() == pytest.approx(1.0, abs=0.05), (low, high)


def test_whitened_coloured_noise_is_white_with_unit_variance(coloured):
    series, _ = coloured
    asd = estimate_asd(series, fft_length=2.0, **WELCH)
    white = whiten(series.crop(1010, 1026), asd, crop=1.0)
    assert white.duration == pytest.approx(14.0)
    assert white.data.std() == pytest.approx(1.0, abs=0.05)
    check = estimate_asd(white, fft_length=1.0, **WELCH)  # flat at sqrt(2 dt) in the band
    band = (check.frequencies > 20) & (check.frequencies < 1800)
    ratio = check.values[band] / np.sqrt(2 / FS)
    assert np.median(ratio) == pytest.approx(1.0, abs=0.1) and ratio.std() < 0.25


def test_whitening_is_safe_against_zeros_in_the_asd():
    series = TimeSeries(np.random.default_rng(0).standard_normal(8192), 0.0, 1 / 1024)
    asd = ASD(np.array([0.0, 100.0, 200.0, 512.0]), np.array([0.0, 0.0, np.nan, 1.0]))
    assert np.all(np.isfinite(whiten(series, asd, crop=0.5).data))


def test_white_noise_tile_energy_is_exponential_with_unit_mean():
    rng = np.random.default_rng(7)
    energies = []
    for _ in range(4):
        white = TimeSeries(rng.standard_normal(int(8 * FS)), 0.0, 1 / FS)
        energies.append(q_transform(white, log_frequencies(8, 500, 64), 12.0, n_times=64, window=(1, 7)).energy)
    energy = np.concatenate(energies)
    assert energy.mean() == pytest.approx(1.0, abs=0.05)
    # exponential tail: P(E > 4.5) = exp(-4.5), i.e. S/N = sqrt(2E) > 3
    assert (energy > 4.5).mean() == pytest.approx(np.exp(-4.5), rel=0.3)


@pytest.mark.parametrize("f0", [40.0, 150.0])
def test_sine_gaussian_peaks_in_the_right_tile(f0):
    rng = np.random.default_rng(1)
    t = np.arange(int(8 * FS)) / FS
    tau = 12 / (np.sqrt(2) * np.pi * f0)
    burst = 1.5 * np.exp(-(((t - 4.3) / tau) ** 2)) * np.sin(2 * np.pi * f0 * (t - 4.3))
    white = TimeSeries(rng.standard_normal(len(t)) + burst, 0.0, 1 / FS)
    freqs = log_frequencies(8, 500, 64)
    gram = q_transform(white, freqs, 12.0, n_times=128, window=(1, 7))
    t_peak, f_peak, e_peak = gram.peak()
    assert abs(np.log(f_peak / f0)) < np.log(freqs[1] / freqs[0]) * 1.5
    assert abs(t_peak - 4.3) < 0.05
    assert np.sqrt(2 * e_peak) > 8  # a loud burst, far above noise


def test_q_transform_rejects_frequencies_above_nyquist_and_missing_tile_times():
    white = TimeSeries(np.zeros(2048), 0.0, 1 / 1024)
    with pytest.raises(ValueError, match="Nyquist"):
        q_transform(white, np.array([10.0, 600.0]), 12.0)
    with pytest.raises(ValueError, match="n_times"):
        q_transform(TimeSeries(np.zeros(2048), 0.0, 1 / 1024), np.array([10.0, 100.0]), 12.0)


@pytest.mark.skipif(not GW150914.exists(), reason="shared GW150914 file not available")
def test_gw150914_chirp_found_in_the_real_strain():
    strain = read_gwosc(GW150914)
    assert strain.t0 == 1126259446 and strain.sample_rate == 4096 and len(strain.data) == 131072
    assert strain.name.startswith("H1:")
    asd = estimate_asd(strain, fft_length=4.0, **WELCH)
    assert 4e-24 < asd.at(np.array([200.0]))[0] < 2e-23  # about 8e-24 /sqrt(Hz) (README)
    white = whiten(strain.crop(1126259454.4, 1126259470.4), asd, crop=1.0)
    gram = q_transform(white, log_frequencies(20, 500, 128), 12.0, n_times=512, window=(1126259461.4, 1126259463.4))
    t_peak, f_peak, e_peak = gram.peak()
    assert abs(t_peak - 1126259462.4) < 0.1
    assert 30 < f_peak < 400
    assert np.sqrt(2 * e_peak) > 6


@pytest.mark.skipif(not GW150914.exists(), reason="shared GW150914 file not available")
def test_event_qscan_takes_its_defaults_from_the_schema():
    """The library call with empty settings (schema defaults: 4 s FFTs, Q = 12, 2 s around the event)."""
    scan = event_qscan(read_gwosc(GW150914), 1126259462.4, {}, {})
    assert scan["gram"].energy.shape == (128, 512) and scan["gram"].q == 12.0
    assert abs(scan["peak_gps"] - 1126259462.4) < 0.1 and 30 < scan["peak_frequency_hz"] < 400
    assert scan["peak_snr"] == pytest.approx(np.sqrt(2 * scan["peak_energy"]))
