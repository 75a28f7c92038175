"""Pulse S/N as in ML-PPA's sensitivity study: dedisperse, sum the channels, best boxcar.

S/N = max over boxcar widths w and positions of (sum of the dedispersed, channel-summed series in
the window) / (noise standard deviation of such a window). With pixel noise known (sigma per pixel,
e.g. 1 for signals in noise units) the window noise is sigma * sqrt(nchans * w); measured on data it
is the robust standard deviation of the off-pulse boxcar sums.
"""

from __future__ import annotations

import numpy as np

BOXCAR_WIDTHS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)


def dedisperse(block: np.ndarray, delays: np.ndarray) -> np.ndarray:
    """Shift channel c of `block` (time, chan) earlier by delays[c] samples (zero filled); same shape."""
    out = np.zeros_like(block)
    n = block.shape[0]
    for c, d in enumerate(np.asarray(delays, dtype=int)):
        if 0 <= d < n:
            out[: n - d, c] = block[d:, c]
    return out


def dedispersed_series(block: np.ndarray, delays: np.ndarray) -> np.ndarray:
    """Channel sum of `block` (time, chan) dedispersed by `delays` (samples, >= 0), indexed by the arrival
    time at zero delay from -max(delays) on: a pulse that reached the top of the band before the block
    starts but still sweeps through its lower channels counts with the part the block holds."""
    delays = np.asarray(delays, dtype=int)
    lead = max(int(delays.max(initial=0)), 0)
    padded = np.zeros((block.shape[0] + lead, block.shape[1]), dtype=np.float64)
    padded[lead:] = block
    return dedisperse(padded, delays).sum(axis=1)


def boxcar_sums(series: np.ndarray, width: int) -> np.ndarray:
    """Sums of every `width` consecutive samples of `series` (float64, len(series) - width + 1)."""
    csum = np.concatenate([[0.0], np.cumsum(series, dtype=float)])
    return csum[width:] - csum[:-width]


def injected_snr(signal: np.ndarray, delays: np.ndarray, widths=BOXCAR_WIDTHS) -> float:
    """S/N of a noiseless pulse `signal` (time, chan) in units of the per-pixel noise sigma."""
    series = dedisperse(signal, delays).sum(axis=1)
    nchan = signal.shape[1]
    best = 0.0
    for w in widths:
        if w > series.size:
            break
        best = max(best, float(boxcar_sums(series, w).max()) / np.sqrt(nchan * w))
    return best


def measured_snr(data: np.ndarray, delays: np.ndarray, widths=BOXCAR_WIDTHS) -> float:
    """S/N measured on noisy data (time, chan): per-channel median removed, noise from the off-pulse
    boxcar sums (robust: median absolute deviation), best boxcar."""
    block = data - np.median(data, axis=0, keepdims=True)
    series = dedisperse(block, delays).sum(axis=1)
    best = 0.0
    for w in widths:
        if 4 * w > series.size:
            break
        sums = boxcar_sums(series, w)
        centre = np.median(sums)
        noise = 1.4826 * np.median(np.abs(sums - centre)) or 1.0
        best = max(best, float((sums.max() - centre) / noise))
    return best


def series_snr(series: np.ndarray, nchan: int, widths=BOXCAR_WIDTHS) -> float:
    """Best-boxcar S/N of an already dedispersed, channel-summed noiseless series (unit pixel noise)."""
    best = 0.0
    for w in widths:
        if w > series.size:
            break
        best = max(best, float(boxcar_sums(series, w).max()) / np.sqrt(nchan * w))
    return best
