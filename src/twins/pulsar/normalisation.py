"""Per-channel robust normalisation of frames: the bandpass out, noise in sigma units, a bright channel kept."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import ndimage

MAD_TO_SIGMA = 1.4826


def _lower_median(x: np.ndarray, axis: int) -> np.ndarray:
    """Median along `axis` (the lower one for even lengths): one partition, several times faster than
    np.median, which matters for real-time use."""
    k = (x.shape[axis] - 1) // 2
    return np.take(np.partition(x, k, axis=axis), k, axis=axis)


def normalise_frames(
    frames: np.ndarray, smooth_channels: int = 9, clip: float = 20.0, stat_stride: int = 2, threads: int = 1
) -> np.ndarray:
    """Per-channel robust normalisation of (n, time, freq) frames -> float32 in noise-sigma units.

    Each channel's offset and scale are the median and MAD-sigma over the frame's time axis (every
    `stat_stride`-th sample, for speed), smoothed across channels by a running median of
    `smooth_channels`: the bandpass is taken out while a single bright channel (narrow-band RFI) stays
    bright, which is what the classifier must see. With `threads` > 1 blocks of frames are normalised
    in that many threads (numpy's partition and arithmetic release the GIL); the result is the same.
    """
    if threads > 1 and len(frames) >= threads:
        with ThreadPoolExecutor(threads) as pool:
            blocks = pool.map(
                lambda block: normalise_frames(block, smooth_channels, clip, stat_stride),
                np.array_split(np.asarray(frames), threads),
            )
            return np.concatenate(list(blocks))
    x = np.asarray(frames, dtype=np.float32)
    rows = x[:, ::stat_stride, :]
    level = _lower_median(rows, axis=1)  # (n, freq)
    scale = MAD_TO_SIGMA * _lower_median(np.abs(rows - level[:, None, :]), axis=1)
    if smooth_channels > 1:
        level = ndimage.median_filter(level, size=(1, smooth_channels), mode="nearest")
        scale = ndimage.median_filter(scale, size=(1, smooth_channels), mode="nearest")
    scale = np.maximum(scale, 1e-3 + 1e-3 * np.abs(level))
    out = x - level[:, None, :]
    out /= scale[:, None, :]
    return np.clip(out, -clip, clip, out=out)
