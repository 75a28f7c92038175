"""PulsarDT: a physics model of a pulsar search-mode observation in a filterbank.

Units: dynamic spectra are (time, chan) in units of the radiometer noise sigma of each channel
before the bandpass gain and the digitiser turn them into 8-bit counts
(counts = level * g_c + sigma * g_c * x, rounded and clipped to 0..255).
Pulses: a profile of Gaussian components (duty cycle = summed FWHM / period) with unit area, per
channel broadened by intra-channel dispersion smearing and sampling (added in quadrature, boxcar
variances) and convolved with a one-sided exponential scattering tail tau ~ f^-4.4, delayed by the
cold-plasma law and scaled by a power-law spectrum; each pulse's amplitude is log-normally modulated.
RFI: narrow-band carriers (persistent or intermittent, some in the preset's known bands) and
broad-band undispersed impulses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from twins.pulsar.dispersion import dispersion_delay, scattering_time, smearing_time
from twins.pulsar.frames import FrameGeometry
from twins.pulsar.snr import series_snr
from twins.pulsar.telescope import Telescope
from twins.pulsar.truth import BB_BIT, NB_BIT, PULSE_BIT, PULSE_MASK_SIGMA, SimulatedTruth, frame_truth

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
# columns of the truth file's `scans` table, one row per scan
SCAN_COLUMNS = [
    "period_s",
    "dm",
    "tau_1ghz_s",
    "spectral_index",
    "mean_snr",
    "components",
    "max_component_sigma_s",
    "nb_carriers",
    "bb_impulses",
]


@dataclass
class Pulsar:
    """One scan's pulsar. Times in s, DM in pc cm^-3, component phases/widths in s from arrival."""

    period: float
    dm: float
    component_offsets: np.ndarray
    component_sigmas: np.ndarray
    component_weights: np.ndarray
    tau_1ghz: float
    spectral_index: float
    mean_snr: float
    modulation_index: float


def _uniform(rng, spec):
    return float(rng.uniform(spec["min"], spec["max"]))


def _log_uniform(rng, spec):
    return float(np.exp(rng.uniform(np.log(spec["min"]), np.log(spec["max"]))))


def draw_pulsar(rng: np.random.Generator, settings: dict) -> Pulsar:
    """A random pulsar from the dataset's parameter ranges (period/S/N log-uniform, others uniform)."""
    period = _log_uniform(rng, settings["period_s"])
    duty = _uniform(rng, settings["duty_cycle"])
    n_comp = int(rng.integers(settings["components"]["min"], settings["components"]["max"] + 1))
    fwhm = duty * period * rng.dirichlet(np.ones(n_comp))
    offsets = np.concatenate([[0.0], np.cumsum(fwhm[:-1] * rng.uniform(0.6, 1.2, n_comp - 1))])
    return Pulsar(
        period=period,
        dm=_uniform(rng, settings["dm"]),
        component_offsets=offsets,
        component_sigmas=fwhm / FWHM_PER_SIGMA,
        component_weights=rng.uniform(0.3, 1.0, n_comp),
        tau_1ghz=_uniform(rng, settings["scattering_ms_at_1ghz"]) * 1e-3,
        spectral_index=_uniform(rng, settings["spectral_index"]),
        mean_snr=_log_uniform(rng, settings["snr"]),
        modulation_index=float(settings["modulation_index"]),
    )


def pulse_templates(pulsar: Pulsar, telescope: Telescope) -> tuple[np.ndarray, np.ndarray, int]:
    """The pulse of unit fluence in every channel on the sample grid.

    Returns (templates (window, nchans) in sigma units per unit amplitude, integer delays (nchans,)
    of each channel relative to the top of the band, pre: the row of the arrival time at delay 0).
    Row j of channel c is sample (arrival + delays[c] + j - pre).
    """
    tsamp = telescope.tsamp_s
    freqs = telescope.frequencies_mhz
    delay = dispersion_delay(pulsar.dm, freqs, float(freqs.max()))
    shift = np.floor(delay / tsamp).astype(int)
    frac = delay - shift * tsamp
    smear = smearing_time(pulsar.dm, freqs, telescope.foff_mhz)
    tau = scattering_time(pulsar.tau_1ghz, freqs)
    sig = np.sqrt(pulsar.component_sigmas[None, :] ** 2 + (smear[:, None] ** 2 + tsamp**2) / 12.0)
    pre = int(np.ceil((4 * sig.max()) / tsamp)) + 1
    post = int(np.ceil((pulsar.component_offsets.max() + 4 * sig.max() + 7 * tau.max()) / tsamp)) + 2
    t = (np.arange(-pre, post)[:, None] * tsamp) - frac[None, :]  # (window, nchans)
    weights = pulsar.component_weights / pulsar.component_weights.sum()
    profile = np.zeros_like(t)
    for i, (mu, w) in enumerate(zip(pulsar.component_offsets, weights)):
        s = sig[:, i][None, :]
        k = np.maximum(tau[None, :] / s, 1e-3)
        profile += w * stats.exponnorm.pdf(t, k, loc=mu, scale=s)
    spectrum = (freqs / freqs.mean()) ** pulsar.spectral_index
    return (profile * tsamp * spectrum[None, :]).astype(np.float32), shift, pre


def unit_snr(templates: np.ndarray) -> float:
    """S/N of a unit-amplitude pulse over the whole band (templates are already dedispersed)."""
    return series_snr(templates.sum(axis=1, dtype=np.float64), templates.shape[1])


def add_pulses(
    signal: np.ndarray,
    rng: np.random.Generator,
    pulsar: Pulsar,
    templates: np.ndarray,
    shifts: np.ndarray,
    pre: int,
    tsamp: float,
) -> list[dict]:
    """Add the pulse train to `signal` (nsamples, nchans) in place; return one record per pulse
    (arrival sample at the top of the band, injected whole-band S/N)."""
    nsamples, nchans = signal.shape
    offsets = np.arange(templates.shape[0])[:, None] - pre + shifts[None, :]
    cols = np.broadcast_to(np.arange(nchans)[None, :], templates.shape)
    amplitude_unit = pulsar.mean_snr / unit_snr(templates)
    records = []
    arrival = rng.uniform(0, pulsar.period)
    while (start := int(np.rint(arrival / tsamp))) < nsamples:
        modulation = rng.lognormal(-0.5 * pulsar.modulation_index**2, pulsar.modulation_index)
        arrival += pulsar.period
        rows = offsets + start
        if rows.min() < 0 or rows.max() >= nsamples:
            # only whole sweeps: scans are concatenated into one file, where a sweep cut at a scan's edge would
            # be a pulse that vanishes mid-band, which no telescope records (and whose truth S/N would be false)
            continue
        signal[rows, cols] += amplitude_unit * modulation * templates
        records.append({"sample": start, "snr": pulsar.mean_snr * modulation})
    return records


def add_narrowband_rfi(
    x: np.ndarray, mask: np.ndarray, rng: np.random.Generator, settings: dict, telescope: Telescope
) -> int:
    """Carriers: Poisson number per scan, 1-3 channels wide, persistent or intermittent (on/off
    segments), slowly amplitude-modulated; placed in a known RFI band with probability 0.7."""
    nsamples, nchans = x.shape
    freqs = telescope.frequencies_mhz
    in_bands = [np.flatnonzero((freqs >= lo) & (freqs <= hi)) for lo, hi in telescope.rfi_bands_mhz]
    in_bands = [b for b in in_bands if b.size]
    n = int(rng.poisson(settings["nb_carriers_per_scan"]))
    t = np.arange(nsamples)
    for _ in range(n):
        if in_bands and rng.random() < 0.7:
            centre = int(rng.choice(in_bands[int(rng.integers(len(in_bands)))]))
        else:
            centre = int(rng.integers(nchans))
        chans = np.arange(centre, min(centre + int(rng.integers(1, 4)), nchans))
        on = np.ones(nsamples, dtype=bool)
        if rng.random() < settings["nb_intermittent_fraction"]:
            on[:] = False
            for _ in range(int(rng.integers(1, 4))):
                start = int(rng.integers(nsamples))
                on[start : start + int(rng.exponential(nsamples / 6)) + nsamples // 20] = True
        amplitude = _log_uniform(rng, settings["nb_amplitude_sigma"])
        wobble = 1 + 0.3 * np.sin(2 * np.pi * t / rng.uniform(0.2, 2.0) * 1e-4 + rng.uniform(0, 2 * np.pi))
        x[np.ix_(on, chans)] += (amplitude * wobble[on])[:, None].astype(np.float32)
        mask[np.ix_(on, chans)] |= NB_BIT
    return n


def add_broadband_rfi(x: np.ndarray, mask: np.ndarray, rng: np.random.Generator, settings: dict, tsamp: float) -> int:
    """Impulses: Poisson in time, 1..max samples wide, undispersed, across the whole band with a
    smooth random spectrum."""
    nsamples, nchans = x.shape
    n = int(rng.poisson(settings["bb_rate_hz"] * nsamples * tsamp))
    position = np.linspace(0, 1, nchans)
    for _ in range(n):
        start = int(rng.integers(nsamples))
        width = int(rng.integers(1, settings["bb_max_width_samples"] + 1))
        spectrum = 1 + 0.3 * np.cos(2 * np.pi * (position * rng.uniform(0.5, 2) + rng.uniform()))
        amplitude = _log_uniform(rng, settings["bb_amplitude_sigma"])
        x[start : start + width] += (amplitude * spectrum).astype(np.float32)[None, :]
        mask[start : start + width] |= BB_BIT
    return n


def quantise(x: np.ndarray, gain: np.ndarray, digitiser: dict) -> np.ndarray:
    """Noise-unit spectra -> 8-bit counts: level * g + sigma * g * x, rounded, clipped to 0..255."""
    counts = x * (digitiser["sigma"] * gain).astype(np.float32)[None, :]  # float32 throughout: the big array
    counts += (digitiser["level"] * gain).astype(np.float32)[None, :]
    np.rint(counts, out=counts)
    np.clip(counts, 0, 255, out=counts)
    return counts.astype(np.uint8)


@dataclass
class Scan:
    """One simulated scan: 8-bit data, the noiseless pulse signal (sigma units), pixel mask bits."""

    counts: np.ndarray
    pulse_signal: np.ndarray
    mask: np.ndarray
    pulsar: Pulsar
    pulses: list
    n_carriers: int
    n_impulses: int


def simulate_scan(
    rng: np.random.Generator, settings: dict, telescope: Telescope, gain: np.ndarray, nsamples: int
) -> Scan:
    """A scan of `nsamples` spectra: pulsar + radiometer noise + RFI, quantised to 8 bits."""
    nchans = telescope.nchans
    pulsar = draw_pulsar(rng, settings)
    templates, shifts, pre = pulse_templates(pulsar, telescope)
    signal = np.zeros((nsamples, nchans), dtype=np.float32)
    pulses = add_pulses(signal, rng, pulsar, templates, shifts, pre, telescope.tsamp_s)
    mask = np.where(signal >= PULSE_MASK_SIGMA, PULSE_BIT, 0).astype(np.uint8)
    x = rng.standard_normal((nsamples, nchans), dtype=np.float32)
    x += signal
    rfi = settings["rfi"]
    n_nb = add_narrowband_rfi(x, mask, rng, rfi, telescope)
    n_bb = add_broadband_rfi(x, mask, rng, rfi, telescope.tsamp_s)
    return Scan(quantise(x, gain, telescope.digitiser), signal, mask, pulsar, pulses, n_nb, n_bb)


def scan_parameters(scan: Scan) -> tuple:
    """The scan's row of the truth file's `scans` table (SCAN_COLUMNS)."""
    p = scan.pulsar
    return (
        p.period,
        p.dm,
        p.tau_1ghz,
        p.spectral_index,
        p.mean_snr,
        len(p.component_sigmas),
        float(p.component_sigmas.max()),
        scan.n_carriers,
        scan.n_impulses,
    )


def simulate_observation(
    rng: np.random.Generator,
    settings: dict,
    telescope: Telescope,
    geometry: FrameGeometry,
    labelling: dict,
    write_spectra: Callable[[np.ndarray, np.ndarray], None],
) -> SimulatedTruth:
    """A PulsarDT observation of settings['scans'] scans, each a new random pulsar, of settings['scan_seconds']
    (rounded down to whole frames) with one bandpass gain for all.

    Each scan's 8-bit counts (nsamples, nchans) and pixel-mask bits go to `write_spectra` as soon as they are
    made (a whole observation does not fit in memory); returns the per-frame labels and S/N, the per-scan
    pulsar parameters (`scans`) and every pulse (`pulses`: scan, arrival sample, injected whole-band S/N).
    """
    tile = geometry.tile_samples
    scan_samples = int(settings["scan_seconds"] / telescope.tsamp_s) // tile * tile
    geometry.counts(scan_samples, telescope.nchans)  # an error now if a frame cannot fit
    gain = telescope.bandpass_gain(rng)
    labels, snrs, frame_scan, scans, pulses = [], [], [], [], []
    for scan_index in range(settings["scans"]):
        scan = simulate_scan(rng, settings, telescope, gain, scan_samples)
        write_spectra(scan.counts, scan.mask)
        scan_labels, scan_snr = frame_truth(
            scan.pulse_signal,
            scan.mask,
            scan.pulsar.dm,
            telescope.frequencies_mhz,
            telescope.tsamp_s,
            geometry,
            labelling,
        )
        labels.append(scan_labels)
        snrs.append(scan_snr)
        frame_scan.append(np.full(len(scan_labels), scan_index, dtype=np.int32))
        scans.append(scan_parameters(scan))
        pulses += [(scan_index, r["sample"] + scan_index * scan_samples, r["snr"]) for r in scan.pulses]
    labels = np.concatenate(labels)
    datasets = {
        "labels": labels,
        "snr": np.concatenate(snrs),
        "frame_scan": np.concatenate(frame_scan),
        "scans": np.asarray(scans, dtype=np.float64),
        "pulses": np.asarray(pulses, dtype=np.float64).reshape(-1, 3),
    }
    summary = {
        "frames": int(len(labels)),
        "class_counts": labels.sum(axis=0).tolist(),
        "pulses": len(pulses),
        "samples": int(scan_samples * settings["scans"]),
    }
    columns = {"scans": SCAN_COLUMNS, "pulses": ["scan", "sample", "snr"]}
    return SimulatedTruth(datasets, summary, columns, {"scan_samples": scan_samples})
