"""RFI channel flagging: channel statistics of a whole observation, robust outliers flagged, flagged channels
zeroed in the normalised frames (RFI excision before the search)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from twins.pulsar.frames import FrameGeometry
from twins.pulsar.normalisation import MAD_TO_SIGMA

CHANNEL_STATISTICS = {
    "mean": lambda x: x.mean(axis=0),
    "variance": lambda x: x.var(axis=0),
    "skewness": lambda x: stats.skew(x, axis=0),
    "kurtosis": lambda x: stats.kurtosis(x, axis=0),
}


def robust_zscore(values: np.ndarray) -> np.ndarray:
    """Double-MAD z-score: deviations below/above the median scaled by the MAD of each side."""
    values = np.asarray(values, dtype=float)
    centre = np.median(values)
    low = np.median(np.abs(values[values <= centre] - centre))
    high = np.median(np.abs(values[values >= centre] - centre))
    mad = np.where(values < centre, low, high) * MAD_TO_SIGMA
    return (values - centre) / np.where(mad > 0, mad, np.inf)


def flag_channels(data: np.ndarray, statistics=("variance", "skewness", "kurtosis"), threshold: float = 3.0):
    """RFI channels of (nsamples, nchans) data: any channel statistic with |robust z| > threshold.

    Returns (flags (nchans,) bool, {statistic: values}). The mean is left out by default because the
    bandpass, not RFI, dominates its channel-to-channel spread.
    """
    x = np.asarray(data, dtype=np.float64)
    flags = np.zeros(x.shape[1], dtype=bool)
    values = {}
    for name in statistics:
        if name not in CHANNEL_STATISTICS:
            raise ValueError(f"unknown channel statistic '{name}'; use {sorted(CHANNEL_STATISTICS)}")
        values[name] = np.nan_to_num(CHANNEL_STATISTICS[name](x))
        flags |= np.abs(robust_zscore(values[name])) > threshold
    return flags, values


def mask_channels(frames: np.ndarray, flags: np.ndarray, geometry: FrameGeometry) -> None:
    """Zero (the normalised median level) every frame pixel column that holds a flagged channel, in place.

    RFI excision before the search, as pulsar pipelines do: a real carrier is rarely steady (it
    flickers, drifts, saturates) and, left in, makes frames look like a pulse to a classifier that
    never saw such a carrier. `frames` (n, time, freq) time-major as cut_frames gives them.
    """
    size, fd = geometry.size, geometry.freq_downsample
    n_freq_tiles = len(flags) // (size * fd)
    pixel_flags = flags[: n_freq_tiles * size * fd].reshape(n_freq_tiles, size, fd).any(axis=2)
    tiles = frames.reshape(-1, n_freq_tiles, *frames.shape[1:])
    for f in range(n_freq_tiles):
        tiles[:, f][:, :, pixel_flags[f]] = 0.0
