"""PulsarDT physics: the dispersion sweep, scattering, S/N definition, RFI placement, quantisation."""

import numpy as np
import pytest

from tests.pulsar.real_data import REPO
from twins.pulsar.dispersion import dispersion_delay, scattering_time
from twins.pulsar.pulsar_dt import BB_BIT, NB_BIT, Pulsar, add_pulses, pulse_templates, simulate_scan
from twins.pulsar.snr import injected_snr, measured_snr
from twins.pulsar.telescope import load_telescope

TELESCOPE = load_telescope(REPO / "resources/pulsar/effelsberg_lband.yaml")


def narrow_pulsar(dm, snr=50.0, tau=0.0):
    return Pulsar(
        period=1.0,
        dm=dm,
        component_offsets=np.array([0.0]),
        component_sigmas=np.array([5e-5]),
        component_weights=np.array([1.0]),
        tau_1ghz=tau,
        spectral_index=0.0,
        mean_snr=snr,
        modulation_index=0.0,
    )


@pytest.mark.parametrize("dm", [5.0, 27.5, 60.0])
def test_measured_sweep_matches_dispersion_law_within_one_sample(dm):
    pulsar = narrow_pulsar(dm)
    templates, shifts, pre = pulse_templates(pulsar, TELESCOPE)
    signal = np.zeros((int(2.0 / TELESCOPE.tsamp_s), TELESCOPE.nchans), dtype=np.float32)
    pulse = add_pulses(signal, np.random.default_rng(0), pulsar, templates, shifts, pre, TELESCOPE.tsamp_s)[0]
    window = signal[pulse["sample"] : pulse["sample"] + int(0.2 / TELESCOPE.tsamp_s)]
    measured = window.argmax(axis=0)  # peak sample per channel after the arrival at the top
    freqs = TELESCOPE.frequencies_mhz
    expected = dispersion_delay(dm, freqs, freqs.max()) / TELESCOPE.tsamp_s
    assert np.abs(measured - expected).max() <= 1.0
    assert measured[-1] > 3 * dm  # the sweep really happened (about 1 ms per DM unit here)


def test_scattering_tail_follows_f_to_the_minus_4_4():
    plain, _, _ = pulse_templates(narrow_pulsar(10.0), TELESCOPE)
    scattered, _, _ = pulse_templates(narrow_pulsar(10.0, tau=2e-3), TELESCOPE)

    def centroid(t):  # samples; an exponential tail moves the mean arrival by tau
        return (np.arange(len(t))[:, None] * t).sum(axis=0) / t.sum(axis=0)

    shift = centroid(scattered) - centroid(
        plain[: len(scattered)]
        if len(plain) > len(scattered)
        else np.pad(plain, ((0, len(scattered) - len(plain)), (0, 0)))
    )
    tau = scattering_time(2e-3, TELESCOPE.frequencies_mhz) / TELESCOPE.tsamp_s
    np.testing.assert_allclose(shift[[0, -1]], tau[[0, -1]], rtol=0.05)
    np.testing.assert_allclose(plain.sum(axis=0), scattered.sum(axis=0), rtol=0.02)  # fluence kept


def test_injected_snr_is_what_the_data_show():
    pulsar = narrow_pulsar(20.0, snr=12.0)
    pulsar.component_sigmas = np.array([4e-4])
    templates, shifts, pre = pulse_templates(pulsar, TELESCOPE)
    rng = np.random.default_rng(3)
    measured = []
    for _ in range(20):
        signal = np.zeros((2048, TELESCOPE.nchans), dtype=np.float32)
        pulsar.period = 0.1  # exactly one pulse in 0.13 s
        pulse, *_ = add_pulses(signal, rng, pulsar, templates, shifts, pre, TELESCOPE.tsamp_s)
        noisy = signal + rng.standard_normal(signal.shape, dtype=np.float32)
        measured.append(measured_snr(noisy, shifts) / pulse["snr"])
    assert np.median(measured) == pytest.approx(1.0, abs=0.15)


def test_only_whole_sweeps_are_written_and_each_holds_its_truth_snr():
    pulsar = narrow_pulsar(60.0, snr=20.0)  # a ~0.26 s sweep: a pulse late in a 1 s scan would lose its lower band
    templates, shifts, pre = pulse_templates(pulsar, TELESCOPE)
    nsamples = int(1.0 / TELESCOPE.tsamp_s)
    pulsar.period = nsamples * TELESCOPE.tsamp_s  # one pulse per scan at a random phase, or none
    written = 0
    for seed in range(12):
        signal = np.zeros((nsamples, TELESCOPE.nchans), np.float32)
        pulses = add_pulses(signal, np.random.default_rng(seed), pulsar, templates, shifts, pre, TELESCOPE.tsamp_s)
        assert len(pulses) <= 1
        if not pulses:  # its sweep would have crossed the scan's end: nothing written
            assert not signal.any()
            continue
        written += 1
        assert pulses[0]["snr"] == pytest.approx(injected_snr(signal, shifts), rel=0.02)
    assert 0 < written < 12


def test_scan_has_rfi_in_its_mask_and_8bit_counts(settings_dt):
    rng = np.random.default_rng(1)
    settings = {**settings_dt, "rfi": {**settings_dt["rfi"], "nb_carriers_per_scan": 3, "bb_rate_hz": 50}}
    scan = simulate_scan(rng, settings, TELESCOPE, TELESCOPE.bandpass_gain(rng), 4096)
    assert scan.counts.dtype == np.uint8 and scan.counts.shape == (4096, 256)
    assert scan.n_carriers > 0 and scan.n_impulses > 0
    nb_channels = np.flatnonzero(((scan.mask & NB_BIT) > 0).any(axis=0))
    bb_samples = np.flatnonzero(((scan.mask & BB_BIT) > 0).all(axis=1))
    assert nb_channels.size and bb_samples.size
    level = np.median(scan.counts, axis=0).astype(float)
    assert level[nb_channels].mean() > np.median(level)  # carriers raise their channels
    assert scan.counts[bb_samples].mean() > scan.counts.mean() + 3  # impulses are undispersed, all channels
