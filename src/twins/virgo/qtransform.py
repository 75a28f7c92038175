"""Whitening and the constant-Q transform (the seeds' Preprocess_API), with numpy/scipy.

Conventions
- ASD: one-sided amplitude spectral density [unit/sqrt(Hz)] on a frequency grid.
- Whitened data have unit variance per sample when the input is noise of that ASD.
- Q-transform tiles follow the Omega/gwpy construction: for a tile at frequency f with quality factor Q,
  a bisquare window of half-width f*sqrt(11)/Q in frequency selects the band; its inverse FFT gives the
  complex tile series c(t). The normalised tile energy E = |c|^2 / <|c|^2>_noise is set analytically so
  that whitened Gaussian noise has E exponentially distributed with mean 1, hence S/N = sqrt(2E).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from twins.core.config import resolve
from twins.virgo.io import ASD, TimeSeries


def estimate_asd(series: list[TimeSeries] | TimeSeries, fft_length: float, overlap: float, window: str) -> ASD:
    """ASD by Welch's method with median averaging over all FFT segments of all series given: FFTs of
    fft_length [s], overlapping by the fraction `overlap`, with the scipy `window` (config
    virgo.preprocess.whitening).

    Median averaging (with scipy's bias correction) keeps glitches out of the noise estimate.
    """
    series = [series] if isinstance(series, TimeSeries) else list(series)
    if not series:
        raise ValueError("estimate_asd: no data given")
    fs = series[0].sample_rate
    nperseg = int(round(fft_length * fs))
    if any(len(s.data) < nperseg for s in series):
        raise ValueError(f"estimate_asd: fft_length {fft_length} s is longer than a series ({series[0].duration} s)")
    # scipy's median Welch on each series; the median over series of equal length pools them robustly
    psds = []
    for s in series:
        freqs, psd = signal.welch(
            s.data, fs=fs, window=window, nperseg=nperseg, noverlap=int(overlap * nperseg), average="median"
        )
        psds.append(psd)
    psd = np.median(np.asarray(psds), axis=0)
    return ASD(freqs, np.sqrt(psd), series[0].name)


def whiten(series: TimeSeries, asd: ASD, crop: float, taper: float = 0.25) -> TimeSeries:
    """Divide the data by the ASD in the frequency domain; unit variance for noise of that ASD.

    taper: Tukey taper length at each end [s] against edge ringing; crop: seconds removed at each end
    afterwards. Bins where the ASD is zero or not finite are set to zero instead of dividing by them.
    """
    n = len(series.data)
    if 2 * crop >= series.duration:
        raise ValueError(f"whiten: crop {crop} s at each end leaves nothing of a {series.duration} s series")
    alpha = min(1.0, 2 * taper / series.duration)
    tapered = (series.data - series.data.mean()) * signal.windows.tukey(n, alpha)
    spectrum = np.fft.rfft(tapered)
    freqs = np.fft.rfftfreq(n, series.dt)
    values = asd.at(freqs)
    good = np.isfinite(values) & (values > 0)
    inverse = np.zeros_like(values)
    inverse[good] = 1.0 / values[good]
    white = np.fft.irfft(spectrum * inverse, n) * np.sqrt(2.0 * series.dt)
    out = TimeSeries(white, series.t0, series.dt, series.name, "whitened")
    return out.crop(series.t0 + crop, series.t_end - crop) if crop > 0 else out


@dataclass
class QGram:
    """A constant-Q spectrogram: energy (n_freq, n_time) of normalised tile energy E (dimensionless),
    phase (n_freq, n_time) [rad], frequencies (n_freq,) [Hz], times (n_time,) [GPS s], q, channel name."""

    energy: np.ndarray
    phase: np.ndarray
    frequencies: np.ndarray
    times: np.ndarray
    q: float
    name: str = ""

    @property
    def amplitude(self) -> np.ndarray:
        """sqrt(E): the normalised tile amplitude."""
        return np.sqrt(self.energy)

    @property
    def snr(self) -> np.ndarray:
        """Tile S/N = sqrt(2E)."""
        return np.sqrt(2.0 * self.energy)

    def peak(self) -> tuple[float, float, float]:
        """(GPS time, frequency, E) of the most energetic pixel."""
        i, j = np.unravel_index(np.argmax(self.energy), self.energy.shape)
        return float(self.times[j]), float(self.frequencies[i]), float(self.energy[i, j])


def log_frequencies(f_min: float, f_max: float, n: int) -> np.ndarray:
    return np.geomspace(f_min, f_max, n)


def q_transform(
    white: TimeSeries,
    frequencies: np.ndarray,
    q: float,
    times: np.ndarray | None = None,
    n_times: int | None = None,
    window: tuple[float, float] | None = None,
) -> QGram:
    """Constant-Q transform of whitened data at the given tile frequencies [Hz].

    The tile series are evaluated at `times` (GPS s) or at n_times points spread evenly over `window`
    (GPS start, end; default the whole series); energy is linearly interpolated in time, phase taken
    from the nearest sample. Frequencies must lie below Nyquist and their tiles must fit in the data.
    """
    n = len(white.data)
    duration = white.duration
    fs = white.sample_rate
    if np.any(np.asarray(frequencies) >= fs / 2):
        raise ValueError(
            f"q_transform: frequencies up to {max(frequencies)} Hz exceed Nyquist {fs / 2} Hz of {white.name}"
        )
    if times is None:
        if n_times is None:
            raise ValueError("q_transform: give the tile times or their number n_times")
        start, end = window if window is not None else (white.t0, white.t_end)
        times = start + (np.arange(n_times) + 0.5) * (end - start) / n_times
    spectrum = np.fft.fft(white.data)
    rel_times = np.asarray(times) - white.t0
    energy = np.empty((len(frequencies), len(times)))
    phase = np.empty_like(energy)
    # Tiles are grouped by their series length m so each group takes one 2-D inverse FFT (speed).
    groups: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = {}
    for row, f in enumerate(frequencies):
        half_width = f * np.sqrt(11.0) / q  # Hz; bisquare window support
        k_centre = int(round(f * duration))
        k_half = max(int(np.floor(half_width * duration)), 1)
        ks = np.arange(k_centre - k_half, k_centre + k_half + 1)
        ks = ks[(ks > 0) & (ks < n // 2)]
        weights = np.clip(1.0 - ((ks / duration - f) / half_width) ** 2, 0.0, None) ** 2
        m = 2 ** int(np.ceil(np.log2(max(len(ks), 8))))  # tile series length (fast FFT sizes)
        groups.setdefault(m, []).append((row, ks, weights))
    for m, members in groups.items():
        padded = np.zeros((len(members), m), dtype=complex)
        norm = np.empty(len(members))
        for j, (_, ks, weights) in enumerate(members):
            padded[j, : len(ks)] = weights * spectrum[ks]
            norm[j] = n * np.sum(weights**2)  # white noise of unit variance: E|X_k|^2 = n
        tiles = np.fft.ifft(padded, axis=1) * m  # sum_k w_k X_k exp(2 pi i k t / T), baseband-shifted
        tile_energy = np.abs(tiles) ** 2 / norm[:, None]
        position = rel_times / duration * m  # periodic linear interpolation onto the requested times
        lower = np.floor(position).astype(int)
        frac = position - lower
        rows = [r for r, _, _ in members]
        energy[rows] = tile_energy[:, lower % m] * (1 - frac) + tile_energy[:, (lower + 1) % m] * frac
        nearest = np.round(position).astype(int) % m
        first_bin = np.array([ks[0] for _, ks, _ in members])
        # restore the carrier phase removed by the baseband shift
        phase[rows] = np.angle(tiles[:, nearest] * np.exp(2j * np.pi * first_bin[:, None] * rel_times[None] / duration))
    return QGram(energy, phase, np.asarray(frequencies, dtype=np.float64), np.asarray(times), q, white.name)


def event_qscan(strain: TimeSeries, event_gps: float, report: dict, preprocess: dict) -> dict:
    """Whiten real strain (median-Welch ASD of the whole series, FFT length report.gwosc_fft_length_s) and
    Q-transform 2 s around `event_gps` on 128 tiles from 20 Hz to the top of the strain band.

    report, preprocess: config virgo.report and virgo.preprocess (schema defaults filled in).
    Returns {"gram": QGram (128, 512), and of its loudest tile "peak_gps", "peak_frequency_hz" [Hz],
    "peak_energy" (E), "peak_snr" (sqrt(2E)); "asd_200hz": the ASD at 200 Hz [1/sqrt(Hz)]}."""
    report, preprocess = resolve("virgo.report", report), resolve("virgo.preprocess", preprocess)
    w, q = preprocess["whitening"], preprocess["qtransform"]
    asd = estimate_asd(strain, report["gwosc_fft_length_s"], w["overlap"], w["window"])
    white = whiten(strain.crop(event_gps - 8, event_gps + 8), asd, crop=w["crop_s"])
    freqs = log_frequencies(20.0, q["strain_band_hz"][1], 128)
    gram = q_transform(white, freqs, q["q"], n_times=512, window=(event_gps - 1, event_gps + 1))
    t_peak, f_peak, e_peak = gram.peak()
    return {
        "gram": gram,
        "peak_gps": t_peak,
        "peak_frequency_hz": f_peak,
        "peak_energy": e_peak,
        "peak_snr": float(np.sqrt(2 * e_peak)),
        "asd_200hz": float(asd.at(np.array([200.0]))[0]),
    }
