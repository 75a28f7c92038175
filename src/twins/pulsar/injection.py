"""Single pulses injected into real (or simulated) backgrounds, FETCH's recipe, with PulsarDT's pulse physics.

Conventions. `sample` is the arrival of the pulse (the centre of its Gaussian, before scattering) at the centre
of the highest-frequency channel, as an absolute stream sample; the sweep to lower frequencies follows the
cold-plasma law. Units of the injection: per-channel normalised data (x - median) / sigma (backgrounds.noise_levels),
in which every good channel has unit noise and flagged/dead channels (sigma NaN, 0) carry neither signal nor noise.
S/N (as twins.pulsar.snr and truth.frame_truth): the pulse's channels dedispersed at its true DM with the integer
delays dispersion.delay_samples (rounded), summed over the n_good good channels, best boxcar (snr.BOXCAR_WIDTHS)
of the noiseless sum / sqrt(n_good * w) (snr_radiometer). With snr_noise "measured" (the default) the amplitude is
raised by the background's own noise excess at the pulse's DM and best width (noise_excess: measured sigma of
that dedispersed, boxcar-filtered series over the radiometer value), so that `snr` is the S/N in the stream's
measured noise, the one a search sees: real data whose channels share noise (the shared Parkes file: 1.2-4x the
radiometer noise, more for wider boxcars) would otherwise hide "S/N 7" pulses at a measured S/N of 2-6. With
"radiometer", snr = snr_radiometer. The amplitude of each pulse is set so `snr` equals the requested S/N.
Splits: a pulse's whole footprint (its sweep from the top to the bottom of the band plus the template's leading
and trailing rows: 4 sigma of the smeared Gaussian, 7 scattering times) stays inside its span, so a pulse never
leaks into another split, and the footprints of one realisation's pulses are separated by margin_widths widths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twins.core.config import resolve
from twins.pulsar.backgrounds import normalise, telescope_from_header
from twins.pulsar.dispersion import delay_samples, dispersion_delay, header_frequencies, scattering_time, smearing_time
from twins.pulsar.pulsar_dt import FWHM_PER_SIGMA, Pulsar, pulse_templates
from twins.pulsar.snr import BOXCAR_WIDTHS, boxcar_sums
from twins.pulsar.telescope import Telescope

INJECTION_COLUMNS = ("sample", "dm", "width_s", "tau_1ghz_s", "spectral_index", "snr")
# what inject adds
TRUTH_COLUMNS = (
    "snr",
    "width_samples_best",
    "amplitude",
    "fluence",
    "inside_fraction",
    "noise_excess",
    "snr_radiometer",
)
ROBUST_SIGMA = 1.4826  # MAD -> standard deviation of a Gaussian
NOISE_SAMPLES = 1 << 16  # samples of a background's dedispersed series its noise is measured on


def _channelisation(header: dict) -> tuple[np.ndarray, float, float]:
    """(channel centre frequencies (nchans,) MHz in file order, foff MHz, tsamp s) of a SIGPROC header."""
    return header_frequencies(header), float(header["foff"]), float(header["tsamp"])


def pulse_extent(dm: float, width_s: float, tau_1ghz_s: float, header: dict) -> tuple[int, int, int]:
    """(pre, sweep, post) in samples of a pulse's footprint: it occupies the samples arrival - pre to
    arrival + sweep + post - 1. The same window pulsar_dt.pulse_templates gives a one-component pulse (4 sigma of
    the smeared Gaussian before, the sweep to the lowest channel, 4 sigma + 7 scattering times after)."""
    freqs, foff, tsamp = _channelisation(header)
    sweep = int(np.floor(dispersion_delay(dm, freqs, float(freqs.max())) / tsamp).max())
    smear = float(smearing_time(dm, freqs, foff).max())
    sig = np.sqrt((width_s / FWHM_PER_SIGMA) ** 2 + (smear**2 + tsamp**2) / 12.0)
    tau = float(scattering_time(tau_1ghz_s, freqs).max())
    pre = int(np.ceil(4 * sig / tsamp)) + 1
    post = int(np.ceil((4 * sig + 7 * tau) / tsamp)) + 2
    return pre, sweep, post


def _settings(settings: dict | None) -> dict:
    merged = resolve("pulsar.candidates.injection", settings)
    for key in ("dm", "width_s", "snr", "scattering_ms_at_1ghz", "spectral_index"):
        spec = merged[key]
        if not isinstance(spec, dict) or not {"min", "max"} <= set(spec):
            raise ValueError(f"injection: settings[{key!r}] = {spec!r} needs both min and max")
        lowest = -np.inf if key == "spectral_index" else 0.0
        if not lowest <= spec["min"] <= spec["max"]:
            raise ValueError(f"injection: settings[{key!r}] = {spec} needs min <= max (and min >= 0 but for indices)")
    if merged["width_s"]["min"] <= 0 or merged["snr"]["min"] <= 0 or int(merged["per_realisation"]) < 1:
        raise ValueError("injection: width_s and snr need min > 0 and per_realisation >= 1; fix the settings")
    if merged["snr_noise"] not in ("measured", "radiometer"):
        raise ValueError(f"injection: snr_noise {merged['snr_noise']!r}: use measured or radiometer")
    if merged["snr"].get("distribution", "uniform") not in ("uniform", "log_uniform"):
        raise ValueError(f"injection: snr distribution {merged['snr']['distribution']!r}: use uniform or log_uniform")
    return merged


def fitting_dm_max(settings: dict | None, header: dict, span_samples: int) -> float:
    """The highest DM (<= settings dm max) at which a pulse of the widest width and scattering of the settings
    fits inside `span_samples`: the effective upper end of the drawn DMs. Raises when not even dm min fits."""
    s = _settings(settings)
    lo, hi = float(s["dm"]["min"]), float(s["dm"]["max"])
    width, tau = float(s["width_s"]["max"]), float(s["scattering_ms_at_1ghz"]["max"]) * 1e-3

    def fits(dm):
        return sum(pulse_extent(dm, width, tau, header)) <= span_samples

    if not fits(lo):
        raise ValueError(
            f"injection: span of {span_samples} samples too short for DM >= {lo:g} at this band "
            f"({float(header['fch1']):g} MHz, foff {float(header['foff']):g}, {int(header['nchans'])} channels) with "
            f"widths up to {width:g} s; lengthen the split or lower dm min / width_s max"
        )
    if fits(hi):
        return hi
    for _ in range(60):  # the footprint grows monotonically with DM: bisect to ~1e-18 of the range
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def _draw_parameters(rng: np.random.Generator, s: dict, dm_max: float, n: int) -> dict[str, np.ndarray]:
    """n pulses' parameters, each a vector (the rng advances by the same amount whatever fits)."""
    log_w = np.log([s["width_s"]["min"], s["width_s"]["max"]])
    snr = s["snr"]
    if snr.get("distribution", "uniform") == "log_uniform":
        snrs = np.exp(rng.uniform(np.log(snr["min"]), np.log(snr["max"]), n))
    else:
        snrs = rng.uniform(snr["min"], snr["max"], n)
    return {
        "dm": rng.uniform(s["dm"]["min"], dm_max, n),
        "width_s": np.exp(rng.uniform(log_w[0], log_w[1], n)),
        "tau_1ghz_s": rng.uniform(s["scattering_ms_at_1ghz"]["min"], s["scattering_ms_at_1ghz"]["max"], n) * 1e-3,
        "spectral_index": rng.uniform(s["spectral_index"]["min"], s["spectral_index"]["max"], n),
        "snr": snrs,
    }


def draw_injections(
    rng: np.random.Generator, settings: dict | None, header: dict, span_samples: int, start_sample: int = 0
) -> pd.DataFrame:
    """One realisation of pulses inside the span [start_sample, start_sample + span_samples) of a stream.

    Draws settings['per_realisation'] pulses (the schema defaults for missing keys; DM uniform up to
    fitting_dm_max, so even the widest pulse's footprint fits the span) and keeps them in drawn order while their
    footprints (pulse_extent) plus gaps of margin_widths * the widest kept FWHM fit; at least one always does.
    The kept footprints are then placed in random order with uniformly random gaps: they never overlap and never
    leave the span. Returns one row per pulse, in time order: INJECTION_COLUMNS (sample: int arrival at the top
    channel centre, absolute; dm pc cm^-3; width_s intrinsic FWHM s; tau_1ghz_s; spectral_index; snr requested)
    and first_sample/stop_sample (the footprint, absolute, stop exclusive); attrs: dm_max_effective, span.
    """
    s = _settings(settings)
    dm_max = fitting_dm_max(s, header, span_samples)
    n = int(s["per_realisation"])
    p = _draw_parameters(rng, s, dm_max, n)
    extents = np.array([pulse_extent(*args, header) for args in zip(p["dm"], p["width_s"], p["tau_1ghz_s"])])
    lengths = extents.sum(axis=1)
    gaps = np.ceil(float(s["margin_widths"]) * p["width_s"] / float(header["tsamp"])).astype(int)
    needed = [lengths[:k].sum() + (k - 1) * gaps[:k].max() for k in range(1, n + 1)]
    keep = max(k for k in range(1, n + 1) if needed[k - 1] <= span_samples)  # k = 1 fits by fitting_dm_max
    gap = int(gaps[:keep].max())
    order = rng.permutation(keep)
    slack = span_samples - int(needed[keep - 1])
    offsets = np.sort(rng.integers(0, slack + 1, keep))
    starts = offsets + np.concatenate([[0], np.cumsum(lengths[order])[:-1]]) + gap * np.arange(keep)
    table = pd.DataFrame({key: values[order] for key, values in p.items()})
    table.insert(0, "sample", (start_sample + starts + extents[order, 0]).astype(np.int64))
    table["first_sample"] = (start_sample + starts).astype(np.int64)
    table["stop_sample"] = table["first_sample"] + lengths[order]
    table.attrs = {
        "dm_max_effective": float(dm_max),
        "span": (int(start_sample), int(start_sample + span_samples)),
        "snr_noise": s["snr_noise"],
    }
    return table[list(INJECTION_COLUMNS) + ["first_sample", "stop_sample"]]


def _dedispersed_sum(signal: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Channel sum (float64) of template rows `signal` (window, nchans) each channel moved by offsets[c] (0 or -1:
    the rounded delay minus the template's floored one), indexed from one row before the window."""
    series = np.zeros(signal.shape[0] + 2)
    for offset in np.unique(offsets):
        series[1 + offset : 1 + offset + signal.shape[0]] += signal[:, offsets == offset].sum(axis=1, dtype=np.float64)
    return series


def best_boxcar(series: np.ndarray, n_good: int, widths=BOXCAR_WIDTHS) -> tuple[float, int]:
    """(S/N, boxcar width in samples) of the best boxcar of a noiseless channel-summed series in unit-noise
    pixels: max over widths of the window sum / sqrt(n_good * w), as snr.series_snr."""
    csum = np.concatenate([[0.0], np.cumsum(series, dtype=float)])
    best, best_width = 0.0, 0
    for w in widths:
        if w > series.size:
            break
        value = float((csum[w:] - csum[:-w]).max()) / np.sqrt(n_good * w)
        if value > best:
            best, best_width = value, int(w)
    return best, best_width


def _pulsar(row) -> Pulsar:
    """A single pulse (one Gaussian component, no amplitude modulation) as PulsarDT's Pulsar."""
    return Pulsar(
        period=np.inf,
        dm=float(row.dm),
        component_offsets=np.array([0.0]),
        component_sigmas=np.array([float(row.width_s) / FWHM_PER_SIGMA]),
        component_weights=np.array([1.0]),
        tau_1ghz=float(row.tau_1ghz_s),
        spectral_index=float(row.spectral_index),
        mean_snr=float(row.snr),
        modulation_index=0.0,
    )


def _channel_sum(data: np.ndarray, level, good: np.ndarray, delays: np.ndarray, start: int, n: int) -> np.ndarray:
    """Channel sum (float64, n samples from `start`) of `data` (nsamples, nchans) normalised by `level` = (median,
    sigma) per channel and dedispersed by integer `delays`, over the good channels: only the samples summed are
    gathered and normalised, never the whole stream."""
    cols = np.flatnonzero(good)
    rows = start + np.arange(n)[:, None] + delays[cols][None, :]
    block = (data[rows, cols[None, :]] - level[0][cols]) / level[1][cols]
    return block.sum(axis=1, dtype=np.float64)


def _channel_major_sum(normalised: np.ndarray, good: np.ndarray, delays: np.ndarray, n: int) -> np.ndarray:
    """Channel sum (float64, first n samples) of `normalised` ((nchans, nsamples) unit-noise pixels, channel-major:
    contiguous slices) dedispersed by integer `delays`, over the good channels."""
    series = np.zeros(n)
    for c in np.flatnonzero(good):
        series += normalised[c, delays[c] : delays[c] + n]
    return series


def series_noise(normalised: np.ndarray, good: np.ndarray, delays: np.ndarray, width: int) -> tuple[float, float]:
    """(median, robust sigma) of the boxcar-`width` sums of the background's dedispersed (integer `delays`),
    channel-summed series: `normalised` ((nchans, nsamples) unit-noise pixels, channel-major; the first
    NOISE_SAMPLES are enough). (0, radiometer sigma sqrt(n_good * width)) for a background too short or noiseless."""
    radiometer = float(np.sqrt(good.sum() * width))
    n = min(normalised.shape[1] - int(delays.max(initial=0)), NOISE_SAMPLES)
    if n < 4 * width:
        return 0.0, radiometer  # too short to measure: radiometer units
    sums = boxcar_sums(_channel_major_sum(normalised, good, delays, n), width)
    centre = float(np.median(sums))
    sigma = ROBUST_SIGMA * float(np.median(np.abs(sums - centre)))
    return (centre, sigma) if sigma > 0 else (0.0, radiometer)  # a noiseless background: radiometer units


def noise_excess(normalised: np.ndarray, good: np.ndarray, delays: np.ndarray, width: int) -> float:
    """Measured noise of the background's dedispersed, channel-summed series in boxcars of `width` samples over
    the radiometer value sqrt(n_good * width) (series_noise). 1 for white, independent channels; real data with
    noise common to many channels (the shared Parkes file: 1.2-4x, growing with width) give more."""
    return series_noise(normalised, good, delays, width)[1] / np.sqrt(good.sum() * width)


def stream_snr(injected: np.ndarray, level, good: np.ndarray, row, delays: np.ndarray, width: int, noise, reach):
    """S/N of one injected pulse measured on the stream at its true DM (`delays`) and best width: the largest
    boxcar sum within `reach` = (before, after) samples of its arrival, minus the background's median boxcar sum,
    over the background's sigma (`noise`: series_noise). Unlike `snr` (the pulse alone over the noise), this holds
    the noise under the pulse: the S/N a perfect search at the true DM and width would report."""
    start = max(int(row.sample_in_data) - reach[0] - width, 0)
    stop = min(int(row.sample_in_data) + reach[1] + width, injected.shape[0] - int(delays.max(initial=0)))
    if stop - start < width:
        return float("nan")  # the pulse left the data
    peak = float(boxcar_sums(_channel_sum(injected, level, good, delays, start, stop - start), width).max())
    return (peak - noise[0]) / noise[1]


def normalised_channel_major(data: np.ndarray, sigma: np.ndarray, median: np.ndarray | None = None) -> np.ndarray:
    """`data` (nsamples, nchans) as unit-noise pixels (x - median) / sigma, channel-major (nchans, nsamples)
    float32, flagged/dead channels (sigma NaN/0) zero: what series_noise reads."""
    median = np.median(data[:: max(1, len(data) // NOISE_SAMPLES)], axis=0) if median is None else median
    return np.ascontiguousarray(normalise(data, median, sigma).T)


def _stream_snrs(x, header, injections: pd.DataFrame, records: list[dict], good, sigma, first: int) -> np.ndarray:
    """stream_snr of every injected pulse on the finished injected data `x` (nsamples, nchans)."""
    if not len(records):
        return np.zeros(0)
    level = (np.median(x[:: max(1, len(x) // NOISE_SAMPLES)], axis=0), np.where(good, sigma, 1.0))
    out = []
    for row, record in zip(injections.assign(sample_in_data=injections["sample"] - first).itertuples(), records):
        delays, width, noise = record["_measure"]
        pre, _, post = pulse_extent(float(row.dm), float(row.width_s), float(row.tau_1ghz_s), header)
        out.append(stream_snr(x, level, good, row, delays, width, noise, (pre, post)))
    return np.asarray(out)


def _inject_one(x: np.ndarray, telescope: Telescope, row, sigma: np.ndarray, good: np.ndarray, first: int, background):
    """Add one pulse to `x` (nsamples, nchans) in place; return its realised truth. `background`: the pulse-free
    stream normalised, channel-major, to measure its noise at the pulse's DM and width (None: radiometer units)."""
    templates, shifts, pre = pulse_templates(_pulsar(row), telescope)
    templates = templates * good[None, :]  # flagged/dead channels: no signal
    delays = delay_samples(float(row.dm), telescope.frequencies_mhz, telescope.tsamp_s)
    offsets = shifts - delays
    n_good = int(good.sum())
    unit, unit_width = best_boxcar(_dedispersed_sum(templates, offsets), n_good)
    radiometer = float(np.sqrt(n_good * unit_width))
    noise = (0.0, radiometer) if background is None else series_noise(background, good, delays, unit_width)
    excess = noise[1] / radiometer
    amplitude = float(row.snr) * excess / unit
    rows = int(row.sample) - first + shifts[None, :] + np.arange(templates.shape[0])[:, None] - pre
    valid = (rows >= 0) & (rows < x.shape[0])
    signal = np.where(valid, amplitude * templates, 0.0).astype(np.float32)  # normalised units
    realised, width = best_boxcar(_dedispersed_sum(signal, offsets), n_good)
    cols = np.broadcast_to(np.arange(x.shape[1])[None, :], rows.shape)
    x[rows[valid], cols[valid]] += (signal * np.where(good, sigma, 0.0)[None, :].astype(np.float32))[valid]
    inside = float(signal.sum(dtype=np.float64)) / (amplitude * float(templates.sum(dtype=np.float64)))
    return {
        "snr": realised / excess,  # in the background's measured noise: the S/N a search can see
        "width_samples_best": width,
        "amplitude": amplitude,
        "fluence": float(signal.sum(dtype=np.float64)),
        "inside_fraction": inside,
        "noise_excess": excess,
        "snr_radiometer": realised,
        "_measure": (delays, unit_width, noise),  # for stream_snr once every pulse is in
    }


def inject(
    data: np.ndarray,
    header: dict,
    injections: pd.DataFrame,
    sigma: np.ndarray,
    first_sample: int = 0,
    median: np.ndarray | None = None,
    channel_major: np.ndarray | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Add the pulses of `injections` (draw_injections' columns) to a copy of `data`.

    data: (nsamples, nchans) in the header's channel order (fch1, foff of either sign), row 0 being absolute stream
    sample `first_sample`; sigma: (nchans,) noise per channel in data units, same order (backgrounds.noise_levels;
    NaN or <= 0 = flagged/dead: no signal there); median: the per-channel level from the same call (computed
    here when None), for the measured-noise units; channel_major: normalised_channel_major(data, sigma, median),
    when the caller injects into the same data many times. Each pulse is PulsarDT's one-component template (dispersion,
    intra-channel smearing, sampling, scattering, power-law spectrum), times sigma per channel, with the amplitude
    that gives the requested S/N (module docstring). The input is not modified.
    Returns (injected (nsamples, nchans) float32 — fractional counts on integer data, kept unrounded: rounding
    would dither away the weak per-pixel signal of a pulse spread over hundreds of channels — and truth: the
    injections plus snr_requested, snr (realised: the requested one unless the footprint leaves `data`),
    width_samples_best (best boxcar), amplitude (normalised units per unit-fluence template), fluence (sum of the
    pulse over good channels and samples, sigma * samples), inside_fraction (of the pulse inside `data`), time_s
    (arrival at the top channel, s from sample 0 of the stream)).
    """
    x = np.array(data, dtype=np.float32)  # a copy, also when data already are float32
    nchans = int(header["nchans"])
    sigma = np.asarray(sigma, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != nchans or sigma.shape != (nchans,):
        raise ValueError(f"inject: data {x.shape} and sigma {sigma.shape} must be (nsamples, {nchans}) and ({nchans},)")
    missing = [c for c in INJECTION_COLUMNS if c not in injections.columns]
    if missing:
        raise ValueError(f"inject: injections lack columns {missing}; make them with draw_injections")
    good = np.isfinite(sigma) & (sigma > 0)
    if not good.any():
        raise ValueError("inject: every channel is flagged or dead (sigma NaN/0); nothing can carry a pulse")
    telescope = telescope_from_header(header)
    background = None
    if injections.attrs.get("snr_noise", "measured") == "measured":
        background = channel_major if channel_major is not None else normalised_channel_major(data, sigma, median)
    records = [
        _inject_one(x, telescope, row, sigma, good, int(first_sample), background) for row in injections.itertuples()
    ]
    truth = injections.reset_index(drop=True).rename(columns={"snr": "snr_requested"})
    truth = pd.concat([truth, pd.DataFrame(records, index=truth.index, columns=list(TRUTH_COLUMNS))], axis=1)
    truth["snr_stream"] = _stream_snrs(x, header, injections, records, good, sigma, int(first_sample))
    truth["time_s"] = truth["sample"] * float(header["tsamp"])
    truth.attrs = dict(injections.attrs)
    return x, truth
