"""Scattered-light fringe prediction from bench-motion witnesses (as gwdetchar's scattering tools do).

Light scattered by a surface moving with velocity v(t) comes back with a phase 4 pi x / lambda, so its
fringe frequency is f_fringe(t) = 2 |v(t)| / lambda. From a calibrated displacement [m] or velocity [m/s]
witness we predict where the arches must lie in the strain's time-frequency plane; GlitchFlow receives
this map as an extra input, aligned with the strain's frequency axis. From a scattered-light power monitor
[W] we get how loud the arches are: the recombining field, hence the coupling G, goes as sqrt(P_sc).
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from twins.virgo.io import ASD, TimeSeries

LASER_WAVELENGTH_M = 1064e-9
WITNESS_UNITS = ("m", "m/s")
POWER_UNIT = "W"


def fringe_frequency(series: TimeSeries, lowpass_hz: float = 8.0) -> np.ndarray:
    """(n,) predicted fringe frequency 2|v|/lambda [Hz] from a displacement (unit m) or velocity (m/s) series.

    The series is low-passed first (4th-order Butterworth, zero phase): bench motion lives below a few Hz
    and differentiating sensor noise would otherwise dominate."""
    if series.unit not in WITNESS_UNITS:
        raise ValueError(
            f"{series.name}: fringe prediction needs a displacement (m) or velocity (m/s) witness, "
            f"got unit {series.unit!r}"
        )
    b, a = signal.butter(4, lowpass_hz, fs=series.sample_rate)
    smooth = signal.filtfilt(b, a, series.data)
    velocity = np.gradient(smooth, series.dt) if series.unit == "m" else smooth
    return 2.0 * np.abs(velocity) / LASER_WAVELENGTH_M


def fringe_map(
    series: TimeSeries, frequencies: np.ndarray, window: tuple[float, float], n_times: int, lowpass_hz: float = 8.0
) -> np.ndarray:
    """(F, T) fraction of each time bin the predicted fringe frequency spends in each frequency row.

    frequencies: (F,) log-spaced tile centres [Hz] of the strain Q-transform; window: (GPS start, end) cut
    into n_times bins (the spectrogram's time bins)."""
    f_fringe = fringe_frequency(series, lowpass_hz)
    times = series.times
    inside = (times >= window[0]) & (times < window[1])
    log_f = np.log(frequencies)
    half = 0.5 * np.diff(log_f)
    f_edges = np.concatenate([[log_f[0] - half[0]], log_f[:-1] + half, [log_f[-1] + half[-1]]])
    t_edges = np.linspace(window[0], window[1], n_times + 1)
    counts, _, _ = np.histogram2d(np.log(np.maximum(f_fringe[inside], 1e-3)), times[inside], bins=(f_edges, t_edges))
    per_bin = np.histogram(times[inside], bins=t_edges)[0]
    return counts / np.maximum(per_bin, 1)[None, :]


def field_map(series: TimeSeries, asd: ASD, window: tuple[float, float], n_times: int) -> np.ndarray:
    """(T,) scattered-field amplitude sqrt(P_sc) per time bin from a power monitor (unit W), dimensionless.

    The power is averaged over each of the n_times bins of window (GPS start, end) and expressed in units
    of the monitor's noise on that average (white noise of the background ASD: sigma = ASD sqrt(1 / 2 bin));
    the square root turns power into field, which is what the strain coupling G is proportional to."""
    if series.unit != POWER_UNIT:
        raise ValueError(f"{series.name}: scattered-field map needs a power monitor (unit W), got {series.unit!r}")
    edges = np.linspace(window[0], window[1], n_times + 1)
    which = np.digitize(series.times, edges) - 1
    inside = (which >= 0) & (which < n_times)
    sums = np.bincount(which[inside], series.data[inside], minlength=n_times)
    counts = np.maximum(np.bincount(which[inside], minlength=n_times), 1)
    bin_seconds = (window[1] - window[0]) / n_times
    noise = float(np.median(asd.values[asd.frequencies > 0])) * np.sqrt(1.0 / (2.0 * bin_seconds))
    return np.sqrt(np.clip(sums / counts, 0.0, None) / noise)
