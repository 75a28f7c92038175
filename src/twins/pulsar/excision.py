"""RFI excision of a block of the stream before dedispersion: per-channel robust normalisation, channel
flags, time-domain clipping of broad-band impulses.

Block: (nsamples, nchans), any numeric dtype, any channel order (the functions work per channel and per
sample). Output: float32 in units of each channel's noise sigma (median 0), excised pixels set to 0 (the
noise mean, so they add nothing to a dedispersed sum).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from twins.pulsar.flagging import flag_channels
from twins.pulsar.normalisation import MAD_TO_SIGMA

STAT_ROWS = 2048  # rows (evenly strided) the channel statistics are measured on: enough, and cheap per chunk
CLIP_WIDTHS = (1, 2, 4, 8)  # samples: the "short blocks" of the zero-DM series tested for impulses
TILE_ROWS = 256  # rows per tile of the one-pass excision: the tile and its transpose stay in the cache
DEFAULT_FLAG_STATISTICS = ("variance", "skewness", "kurtosis")


@dataclass
class Excision:
    """What was excised from a block: channel_flags (nchans,) bool, channels set to 0 (given, flagged by their
    statistics, or without a usable sigma); clipped (nsamples,) bool, samples set to 0 in every channel."""

    channel_flags: np.ndarray
    clipped: np.ndarray

    @property
    def clipped_fraction(self) -> float:
        return float(self.clipped.mean()) if self.clipped.size else 0.0

    @property
    def flagged_fraction(self) -> float:
        return float(self.channel_flags.mean()) if self.channel_flags.size else 0.0


def _lower_median(x: np.ndarray, axis: int = 0) -> np.ndarray:
    k = (x.shape[axis] - 1) // 2
    return np.take(np.partition(x, k, axis=axis), k, axis=axis)


def channel_levels(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (centre, sigma) of `block` (nsamples, nchans) from up to STAT_ROWS evenly strided rows:
    median and 1.4826 x MAD; where the MAD is 0 (coarsely quantised data, e.g. 1- or 2-bit samples) the mean
    and the standard deviation instead; sigma is 0 where both are 0 or not finite (a dead channel)."""
    stride = max(1, block.shape[0] // STAT_ROWS)
    rows = np.asarray(block[::stride], dtype=np.float32)
    centre = _lower_median(rows)
    sigma = MAD_TO_SIGMA * _lower_median(np.abs(rows - centre))
    flat = ~(sigma > 0)
    if flat.any():
        centre[flat] = rows[:, flat].mean(axis=0)
        sigma[flat] = rows[:, flat].std(axis=0)
    sigma[~np.isfinite(sigma) | ~np.isfinite(centre)] = 0.0
    return centre.astype(np.float32), sigma.astype(np.float32)


def _run_parts(function, n: int, threads: int) -> None:
    """function(lo, hi) over `threads` contiguous parts of range(n), in threads (numpy releases the GIL)."""
    edges = np.linspace(0, n, max(threads, 1) + 1).astype(int).tolist()
    if threads <= 1:
        function(0, n)
        return
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda bounds: function(*bounds), zip(edges[:-1], edges[1:])))


def channel_flags_and_gain(
    block: np.ndarray, centre: np.ndarray, sigma: np.ndarray, channel_flags, flag_statistics, flag_threshold
) -> tuple[np.ndarray, np.ndarray]:
    """(flags (nchans,) bool, gain (nchans,) float32 = 1 / sigma, 0 where flagged): the given `channel_flags`,
    the channels without a usable sigma, and those flagging.flag_channels(statistics, threshold) finds on the
    normalised strided rows of `block` (flag_threshold None: none by statistics)."""
    flags = ~(sigma > 0)
    if channel_flags is not None:
        given = np.asarray(channel_flags, dtype=bool)
        if given.shape != flags.shape:
            raise ValueError(f"excision: channel_flags has shape {given.shape}, the block {block.shape[1]} channels")
        flags |= given
    gain = np.where(flags, 0.0, 1.0 / np.where(flags, 1.0, sigma)).astype(np.float32)
    good = np.flatnonzero(~flags)
    if flag_threshold is not None and len(good) > 3:
        rows = (np.asarray(block[:: max(1, block.shape[0] // STAT_ROWS)], dtype=np.float32) - centre) * gain
        by_statistics, _ = flag_channels(rows[:, good], tuple(flag_statistics), flag_threshold)
        flags[good[by_statistics]] = True
        gain[good[by_statistics]] = 0.0
    return flags, gain


def normalise_block(
    block: np.ndarray,
    channel_flags: np.ndarray | None = None,
    flag_statistics=DEFAULT_FLAG_STATISTICS,
    flag_threshold: float | None = 3.0,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """(normalised float32 (nsamples, nchans), flags (nchans,) bool): each channel minus its median over its
    1.4826 MAD (channel_levels); flagged channels (channel_flags_and_gain) are 0."""
    block = np.asarray(block)
    if block.ndim != 2 or block.shape[0] < 2:
        raise ValueError(f"normalise_block: needs a (nsamples >= 2, nchans) block, got shape {block.shape}")
    centre, sigma = channel_levels(block)
    flags, gain = channel_flags_and_gain(block, centre, sigma, channel_flags, flag_statistics, flag_threshold)
    offset = np.where(flags, 0.0, centre).astype(np.float32)
    out = np.empty(block.shape, dtype=np.float32)

    def part(lo: int, hi: int) -> None:
        np.subtract(block[lo:hi], offset, out=out[lo:hi], casting="unsafe")
        np.multiply(out[lo:hi], gain, out=out[lo:hi])

    _run_parts(part, block.shape[0], threads)
    return out, flags


def impulse_mask(zero_dm: np.ndarray, clip_sigma: float, widths=CLIP_WIDTHS) -> np.ndarray:
    """Samples (bool, like `zero_dm`) where the zero-DM series, summed over any of `widths` consecutive samples,
    departs from the median of such sums by more than `clip_sigma` robust (1.4826 MAD) sigmas.

    Why: a broad-band impulse (lightning, switching, radar) arrives in all channels at once, so it is bright
    at DM 0 and leaks into every low-DM trial; a dispersed pulse is spread over its sweep and barely shows in
    the zero-DM series. Sums over a few samples catch impulses wider than one sample.
    """
    n = len(zero_dm)
    mask = np.zeros(n, dtype=bool)
    csum = np.concatenate([[0.0], np.cumsum(zero_dm - np.median(zero_dm), dtype=np.float64)]) if n else zero_dm
    for w in widths:
        if 4 * w > n:
            break
        sums = csum[w:] - csum[:-w]
        centre = np.median(sums)
        sigma = MAD_TO_SIGMA * np.median(np.abs(sums - centre))
        if not sigma > 0:
            continue
        starts = np.abs(sums - centre) > clip_sigma * sigma
        if starts.any():
            mask |= np.convolve(starts, np.ones(w, dtype=bool))[:n].astype(bool)
    return mask


def clip_impulses(data: np.ndarray, clip_sigma: float, widths=CLIP_WIDTHS) -> np.ndarray:
    """Zero, in place, the samples of normalised `data` (nsamples, nchans) that impulse_mask finds in its sum
    over channels; returns them (nsamples,) bool."""
    clipped = impulse_mask(data.sum(axis=1, dtype=np.float64), clip_sigma, widths)
    data[clipped] = 0.0
    return clipped


def excise(
    block: np.ndarray,
    clip_sigma: float | None = 6.0,
    channel_flags: np.ndarray | None = None,
    flag_statistics=DEFAULT_FLAG_STATISTICS,
    flag_threshold: float | None = 3.0,
    threads: int = 1,
) -> tuple[np.ndarray, Excision]:
    """The cleaned block (float32 (nsamples, nchans), noise-sigma units, excised pixels 0) and what was excised:
    normalise_block then, unless `clip_sigma` is None, clip_impulses."""
    out, flags = normalise_block(block, channel_flags, flag_statistics, flag_threshold, threads)
    clipped = np.zeros(out.shape[0], dtype=bool) if clip_sigma is None else clip_impulses(out, clip_sigma)
    return out, Excision(flags, clipped)


def _summed(rows: np.ndarray, factor: int) -> np.ndarray:
    """float32 sums of `factor` (a power of 2) consecutive rows of `rows` (n * factor, nchans)."""
    if factor == 1:
        return rows.astype(np.float32)
    rows = np.add(rows[0::2], rows[1::2], dtype=np.float32)
    while factor > 2:
        rows = rows[0::2] + rows[1::2]
        factor //= 2
    return rows


def level_segments(nrows: int, factor: int, level_rows: int | None) -> list[tuple[int, int]]:
    """(start, stop) row ranges of `nrows` rows, each measured for its own channel levels: `level_rows` long
    (rounded to whole multiples of `factor`; None or longer than the block: one segment), a short tail joining
    the segment before it."""
    if not level_rows or level_rows >= nrows:
        return [(0, nrows)]
    step = max(factor, (level_rows // factor) * factor)
    edges = list(range(0, nrows, step))
    if nrows - edges[-1] < step // 2 and len(edges) > 1:
        edges.pop()
    return list(zip(edges, edges[1:] + [nrows]))


def excise_decimated(
    block: np.ndarray,
    factor: int,
    n_out: int,
    clip_sigma: float | None = 6.0,
    channel_flags: np.ndarray | None = None,
    flag_statistics=DEFAULT_FLAG_STATISTICS,
    flag_threshold: float | None = 3.0,
    threads: int = 1,
    out: np.ndarray | None = None,
    level_rows: int | None = None,
) -> tuple[np.ndarray, Excision]:
    """The search's one pass over a block: excise, sum `factor` (a power of 2) samples, transpose.

    Returns (cleaned, Excision): cleaned (nchans, n_out) float32, channel-major, sample i the normalised sum of
    block rows i*factor .. i*factor + factor - 1 over sqrt(factor) (unit noise sigma), 0 past the block's end
    (written into `out` when given). Channel flags as normalise_block, from the whole block; each channel's level
    (median, sigma) is measured per segment of `level_rows` rows (level_segments), so gain and bandpass changes
    within the block do not leave channels mis-weighted (None: one level per block). Impulses are clipped per
    decimated sample (a short block of `factor` samples: impulse_mask on the zero-DM series at that resolution),
    and Excision.clipped marks every original sample of a clipped one.
    """
    block = np.asarray(block)
    centre, sigma = channel_levels(block)
    flags, _ = channel_flags_and_gain(block, centre, sigma, channel_flags, flag_statistics, flag_threshold)
    n_full = min(block.shape[0] // factor, n_out)
    out = np.empty((block.shape[1], n_out), dtype=np.float32) if out is None else out
    zero_dm = np.empty(n_full, dtype=np.float64)
    for start, stop in level_segments(n_full * factor, factor, level_rows):
        if (start, stop) != (0, n_full * factor):
            centre, sigma = channel_levels(block[start:stop])
        usable = ~flags & (sigma > 0)  # a channel flat in this segment only adds nothing here
        offset = np.where(usable, factor * centre, 0.0).astype(np.float32)
        gain = np.where(usable, 1.0 / np.where(usable, sigma, 1.0), 0.0).astype(np.float32) / np.float32(
            np.sqrt(factor)
        )

        def part(lo: int, hi: int, offset=offset, gain=gain) -> None:
            for i in range(lo, hi, TILE_ROWS):
                j = min(hi, i + TILE_ROWS)
                tile = _summed(block[i * factor : j * factor], factor)
                tile -= offset
                tile *= gain
                zero_dm[i:j] = tile.sum(axis=1)
                out[:, i:j] = tile.T  # tiles of a few hundred rows: a cache-friendly transpose

        first = start // factor
        _run_parts(lambda lo, hi, part=part, first=first: part(first + lo, first + hi), stop // factor - first, threads)
    out[:, n_full:] = 0.0
    decimated = np.zeros(n_full, dtype=bool) if clip_sigma is None else impulse_mask(zero_dm, clip_sigma)
    if decimated.any():
        out[:, np.flatnonzero(decimated)] = 0.0
    clipped = np.zeros(block.shape[0], dtype=bool)
    clipped[: n_full * factor] = np.repeat(decimated, factor)
    return out, Excision(flags, clipped)
