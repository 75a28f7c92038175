"""FETCH-style candidate images (Agarwal et al. 2020): a frequency-time and a DM-time image of fixed size per
single-pulse candidate, resampled from whatever channelisation the data have (telescope-agnostic).

Conventions. `data` (nsamples, nchans) float32 are per-channel normalised (median 0, robust sigma 1, flagged
channels all 0), or the raw stream (any numeric dtype) with its per-channel `levels` (median, sigma; sigma NaN or
0 for a flagged channel), normalised on the fly where the images read it: no normalised copy of a whole
observation (a minute of a 256-channel, 64 us stream is a gigabyte of float32). Any channel order;
`freqs_mhz` (nchans,) are the channel centre frequencies (fch1 + i foff, either sign of foff); `tsamp` is in s.
A candidate's `sample` is the arrival of the pulse at the highest channel centre (absolute sample index), `dm`
in pc cm^-3, `width` its boxcar width in samples. Delays are relative to the highest frequency, so both images
share one time axis: the arrival time at the top of the band.

Images. The time axis is decimated by d = max(1, width // pixels_per_width) samples a pixel (the pulse spans a
couple of pixels whatever its width) and is n_time pixels long, pixel n_time // 2 holding samples
sample - d // 2 .. sample - d // 2 + d - 1. Channel delays are exact to the sample for pixels of fewer than
COARSE_PIXEL samples; for wider ones they are rounded to a step of a quarter pixel or less (coarse_step).
  ft  (n_freq, n_time): the data dedispersed at the candidate DM, channels averaged into n_freq equal
      frequency bins by their overlap with each bin (any nchans; flagged channels left out), row 0 the
      highest frequency. An astrophysical pulse is a vertical line in the centre columns.
  dmt (n_dm, n_time): the channel sum dedispersed at DM + H (k - n_dm // 2) / (n_dm // 2), k = 0..n_dm-1, so
      row n_dm // 2 is the candidate DM. H = DM spans FETCH's 0..2 DM; it is clipped so that the band sweep of
      H is min_dm_sweep_pixels..max_dm_sweep_pixels pixels: a bow-tie shows for small DMs and does not
      collapse to one row (nor cost a read of twice the sweep) for large ones; below the minimum the trials
      reach negative DMs, so the bow-tie stays symmetric about the centre row. A pulse is the bow-tie's knot
      at the centre; a zero-DM impulse peaks towards DM 0 (the top rows), a narrow-band line has no knot.
Both are normalised (median and 1.4826 MAD of the pixels that hold data; sigma 0 -> 1). Pixels whose data lie
before the start or past the end of `data` are zero (padding); so are bins of flagged channels only.

The DM-time image is dedispersed in two stages, as subband dedispersion does: channels exactly at the
candidate DM into the n_freq bins (over a time span widened by the largest residual delay), then the bins
at each trial by their residual delay (rounded to pixels). The residual's spread within a bin is 1/n_freq of
the trial's smear across the band: zero at the candidate DM, and small beside the bow-tie's width elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy.sparse import csr_array

from twins.core.config import resolve
from twins.pulsar.dispersion import dispersion_delay

COARSE_PIXEL = 16  # pixels of this many samples or more: channel delays rounded to a coarse step (coarse_step)
CANDIDATE_COLUMNS = ("sample", "dm", "width")
ROBUST_SIGMA = 1.4826  # MAD -> standard deviation of a Gaussian


def frequency_bins(freqs_mhz: np.ndarray, n_freq: int, active: np.ndarray | None = None) -> np.ndarray:
    """Weights (n_freq, nchans) float64 that average channels into n_freq equal bins spanning the band, row 0
    the highest frequency: each channel counts by the overlap of its extent (centre +- half the channel width)
    with the bin, each row sums to 1 over the `active` channels (unflagged; all if None), a row with no
    active channel is zero. Works for any nchans (fewer channels than bins repeat them) and channel order."""
    f = np.asarray(freqs_mhz, dtype=float)
    spacing = np.diff(np.sort(f))
    width = float(np.median(spacing)) if spacing.size else 1.0
    width = width if width > 0 else 1.0
    top, bottom = f.max() + width / 2, f.min() - width / 2
    edges = top - (top - bottom) * np.arange(n_freq + 1) / n_freq  # descending
    bin_hi, bin_lo = edges[:-1, None], edges[1:, None]
    overlap = np.clip(np.minimum(bin_hi, f + width / 2) - np.maximum(bin_lo, f - width / 2), 0.0, None)
    if active is not None:
        overlap = overlap * np.asarray(active, dtype=bool)[None, :]
    total = overlap.sum(axis=1, keepdims=True)
    return np.divide(overlap, total, out=np.zeros_like(overlap), where=total > 0)


def active_channels(data: np.ndarray, block: int = 65536) -> np.ndarray:
    """(nchans,) bool: channels holding any non-zero sample (flagged channels are all 0), read in blocks of
    `block` samples so a long stream needs no full-size temporary."""
    active = np.zeros(data.shape[1], dtype=bool)
    for start in range(0, data.shape[0], block):
        active |= np.any(data[start : start + block] != 0, axis=0)
    return active


def decimate(values: np.ndarray, d: int) -> np.ndarray:
    """Sums of `d` consecutive samples along the last axis (its length a multiple of d): (..., n d) -> (..., n).
    Strided adds for small d: numpy reduces a short inner axis an order of magnitude slower."""
    if d > 8:
        return values.reshape(*values.shape[:-1], -1, d).sum(axis=-1)
    out = values[..., 0::d].copy()
    for r in range(1, d):
        out += values[..., r::d]
    return out


def coarse_step(d: int) -> int:
    """Samples summed before channel delays are applied for pixels of d samples: 1 (exact) below COARSE_PIXEL,
    else the largest power of two dividing d with at least 4 steps a pixel (delays rounded to <= d / 8)."""
    if d < COARSE_PIXEL:
        return 1
    step = 1
    while d % (2 * step) == 0 and d // (2 * step) >= 4:
        step *= 2
    return step


def normalise_image(image: np.ndarray) -> np.ndarray:
    """(image - median) / (1.4826 MAD) over the non-zero pixels (padding and flagged bins stay 0); a zero
    MAD falls back to the standard deviation, a zero one to 1. Same shape, float32."""
    held = image != 0
    every = bool(held.all())
    values = image.ravel() if every else image[held]
    if not values.size:
        return image.astype(np.float32)
    centre = np.median(values)
    sigma = ROBUST_SIGMA * np.median(np.abs(values - centre)) or float(np.std(values)) or 1.0
    out = ((image - centre) / sigma).astype(np.float32)
    return out if every else np.where(held, out, np.float32(0.0))


def _validate(data: np.ndarray, freqs: np.ndarray, tsamp: float, candidates: pd.DataFrame, settings: Mapping):
    if data.ndim != 2 or data.shape[1] != freqs.size:
        raise ValueError(
            f"candidate_images: data must be (nsamples, nchans) with nchans = len(freqs_mhz) = {freqs.size}, "
            f"not {data.shape}"
        )
    missing = [c for c in CANDIDATE_COLUMNS if c not in candidates.columns]
    if missing:
        raise ValueError(f"candidate_images: the candidate table lacks column(s) {missing}; needs {CANDIDATE_COLUMNS}")
    if not tsamp > 0:
        raise ValueError(f"candidate_images: tsamp must be > 0 s, not {tsamp}")
    small = {k: settings[k] for k in ("n_freq", "n_time", "n_dm", "pixels_per_width") if int(settings[k]) < 1}
    if small or settings["min_dm_sweep_pixels"] > settings["max_dm_sweep_pixels"]:
        raise ValueError(
            f"pulsar.candidates.images: sizes must be >= 1 (got {small}) and min_dm_sweep_pixels <= "
            f"max_dm_sweep_pixels (got {settings['min_dm_sweep_pixels']} > {settings['max_dm_sweep_pixels']})"
        )


class _Imager:
    """The per-stream parts of the images (bin weights, per-unit-DM delays) and the per-candidate work."""

    def __init__(self, data: np.ndarray, freqs: np.ndarray, tsamp: float, settings: Mapping, levels=None):
        self.tsamp = tsamp
        self.n_freq, self.n_time, self.n_dm = (int(settings[k]) for k in ("n_freq", "n_time", "n_dm"))
        self.per_width = int(settings["pixels_per_width"])
        self.sweep_pixels = (float(settings["min_dm_sweep_pixels"]), float(settings["max_dm_sweep_pixels"]))
        if levels is None:
            self.data = np.ascontiguousarray(data, dtype=np.float32)
            self.centre, self.scale = np.zeros(data.shape[1], np.float32), np.ones(data.shape[1], np.float32)
            active = active_channels(self.data)
        else:
            self.data = np.asarray(data)
            median, sigma = (np.asarray(v, dtype=np.float64) for v in levels)
            active = np.isfinite(sigma) & (sigma > 0)
            self.centre = np.where(active, median, 0.0).astype(np.float32)
            self.scale = np.where(active, 1.0 / np.where(active, sigma, 1.0), 0.0).astype(np.float32)
        bins = frequency_bins(freqs, self.n_freq, active).astype(np.float32)
        # normalisation folded into the bin weights: bin = sum_c w_bc (x_c - m_c) / s_c = (w / s) x - (w / s) m.
        # Sparse (a channel overlaps one or two bins), which also keeps this small product off a multi-threaded
        # BLAS: on a busy node its threads spin, and 64 x 256 x 200 took 15 ms instead of 0.1
        self.weights = csr_array(bins * self.scale[None, :])
        self.bin_offset = (self.weights @ self.centre).astype(np.float32)[:, None]
        self.normalised_weights = csr_array(bins)  # for rows already normalised
        # delay (s) per unit DM of each channel and, averaged with the bin weights, of each bin
        self.unit_delay = dispersion_delay(1.0, freqs, float(freqs.max()))
        self.bin_unit_delay = frequency_bins(freqs, self.n_freq) @ self.unit_delay
        self.band_unit_sweep = max(float(self.unit_delay.max()), 1e-12)
        # trial offsets from the candidate DM in units of the half-span H: row n_dm // 2 is 0
        half = max(self.n_dm // 2, 1)
        self.trial_steps = (np.arange(self.n_dm) - self.n_dm // 2) / half

    def images(self, sample: int, dm: float, width: float) -> tuple[np.ndarray, np.ndarray]:
        """(ft (n_freq, n_time), dmt (n_dm, n_time)) of one candidate, normalised."""
        d = max(1, int(width) // self.per_width)
        pixel_s = d * self.tsamp
        lo_h, hi_h = (p * pixel_s / self.band_unit_sweep for p in self.sweep_pixels)
        half_span = float(np.clip(abs(dm), lo_h, hi_h))
        shifts = np.rint(np.outer(self.trial_steps * half_span, self.bin_unit_delay) / pixel_s).astype(np.int64)
        margin = int(np.abs(shifts).max(initial=0))
        binned = self._binned(sample, dm, d, margin)  # (n_freq, n_time + 2 margin)
        ft = binned[:, margin : margin + self.n_time]
        # dmt[k, j] = sum_b binned[b, margin + j + shifts[k, b]]: the bins at trial k's residual delays
        windows = sliding_window_view(binned, self.n_time, axis=1)  # (n_freq, starts, n_time)
        dmt = windows[np.arange(self.n_freq)[None, :], margin + shifts].sum(axis=1)
        return normalise_image(ft), normalise_image(dmt)

    def _binned(self, sample: int, dm: float, d: int, margin: int) -> np.ndarray:
        """(n_freq, n_time + 2 margin): channels dedispersed at `dm`, decimated by d, averaged into the frequency
        bins; pixel `margin + n_time // 2` holds `sample`; zero off the data. Channel delays are exact samples
        for d < COARSE_PIXEL, else rounded to the coarse step d // 4 (an eighth of a pixel at most)."""
        n = (self.n_time + 2 * margin) * d
        first = int(sample) - (self.n_time // 2 + margin) * d - d // 2
        delays = np.rint(dm * self.unit_delay / self.tsamp).astype(np.int64)
        step = coarse_step(d)
        starts = first + delays
        lo = int(starts.min()) if step == 1 else int(np.rint(starts / step).min()) * step
        hi = int(starts.max()) + n + step
        if lo >= 0 and hi <= len(self.data):  # raw rows, normalisation folded into the weights
            rows, first_row, weights, offset = self.data, 0, self.weights, self.bin_offset
        else:  # a span off the data's edge: a normalised, zero-padded copy keeps the padding exactly 0
            rows, first_row, weights, offset = self._padded(lo, hi), lo, self.normalised_weights, 0.0
        if step == 1:
            series = self._exact(rows, first_row, starts, n)
        else:
            series = self._coarse(rows, first_row, starts, n, step)
        return np.asarray(weights @ decimate(series, d // step)) / np.float32(d) - offset

    def _padded(self, lo: int, hi: int) -> np.ndarray:
        """Rows lo..hi-1 normalised (float32), zero where they run off the data."""
        rows = np.zeros((hi - lo, self.data.shape[1]), dtype=np.float32)
        a, b = max(lo, 0), min(hi, len(self.data))
        if b > a:
            rows[a - lo : b - lo] = (self.data[a:b] - self.centre) * self.scale  # flagged channels: scale 0
        return rows

    @staticmethod
    def _exact(rows: np.ndarray, first: int, starts: np.ndarray, n: int) -> np.ndarray:
        """(nchans, n) float32: rows[starts[c] - first : ... + n, c]. A strided window per channel: neighbouring
        channels reread the cache lines of nearly the same rows, so no per-sample gather."""
        windows = sliding_window_view(rows, n, axis=0)[starts - first, np.arange(len(starts))]
        return windows.astype(np.float32, copy=False)

    @staticmethod
    def _coarse(rows: np.ndarray, first: int, starts: np.ndarray, n: int, step: int) -> np.ndarray:
        """(nchans, n // step): sums of `step` samples of each channel from starts[c] rounded to the stream's
        step grid. Wide pulses read long windows: rows in sequence, summed on the grid before any per-channel
        access, cost a fraction of reading each channel's window."""
        grid = np.rint(starts / step).astype(np.int64)  # window starts in steps
        lo, hi = int(grid.min()), int(grid.max()) + n // step
        block = rows[lo * step - first : hi * step - first]
        summed = block.reshape(hi - lo, step, -1).sum(axis=1, dtype=np.float32)  # (steps, nchans)
        windows = sliding_window_view(summed, n // step, axis=0)  # (starts, nchans, n // step)
        return windows[grid - lo, np.arange(len(starts))]


def candidate_images(
    data: np.ndarray,
    freqs_mhz: np.ndarray,
    tsamp: float,
    candidates: pd.DataFrame,
    settings: Mapping | None = None,
    levels: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The FETCH images of every candidate (see the module docstring for the conventions).

    data (nsamples, nchans) normalised float32, or raw with its `levels` (median, sigma per channel, sigma NaN
    or 0 where flagged: twins.pulsar.backgrounds.noise_levels); freqs_mhz (nchans,) MHz, tsamp s, candidates: a
    table with columns sample (int, arrival at the top channel centre), dm (pc cm^-3), width (samples);
    settings: pulsar.candidates.images (missing keys take the schema defaults).
    Returns ft (n, n_freq, n_time) and dmt (n, n_dm, n_time), float32, each image normalised.
    Cost: one pass over `data` (flagged channels), then about 1.5-3 ms a candidate for 256 channels on one core
    (1000 candidates of DM 0-1000 and boxcar widths 1-128 samples at 64 us: 2.7 s).
    """
    settings = resolve("pulsar.candidates.images", settings)
    data = np.asarray(data)
    freqs = np.asarray(freqs_mhz, dtype=float).ravel()
    _validate(data, freqs, tsamp, candidates, settings)
    imager = _Imager(data, freqs, float(tsamp), settings, levels)
    n = len(candidates)
    ft = np.zeros((n, imager.n_freq, imager.n_time), dtype=np.float32)
    dmt = np.zeros((n, imager.n_dm, imager.n_time), dtype=np.float32)
    samples = candidates["sample"].to_numpy(dtype=np.int64)
    dms = candidates["dm"].to_numpy(dtype=float)
    widths = candidates["width"].to_numpy(dtype=float)
    for i in range(n):
        ft[i], dmt[i] = imager.images(samples[i], dms[i], widths[i])
    return ft, dmt
