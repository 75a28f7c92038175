"""The dedispersion plan of the stream search: DM trials, decimation levels, boxcar widths, chunk overlap.

DM trials come from twins.pulsar.dispersion.dm_trial_grid (dedisp/heimdall spacing with a smearing
tolerance). At high DM a pulse is smeared over many samples anyway (intra-channel smearing plus the
smearing of a pulse that lies between two trials), so its time series can be decimated without loss
(PRESTO's DDplan, heimdall's and `your`'s "scrunching"): each trial goes to the level whose sample,
2^k * tsamp, is at most half the narrowest pulse that trial can show, sqrt(min_width^2 + smearing^2),
so that a pulse always spans two or more samples of its level. Frequencies in MHz, times in seconds,
DM in pc cm^-3; channel 0 of the plan is the highest frequency.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from twins.pulsar.dispersion import band_sweep, dispersion_delay, dm_trial_grid

log = logging.getLogger(__name__)

SMEARING_US_PER_MHZ = 8.3  # us of intra-channel smearing per MHz of channel width per unit DM at 1 GHz
WIDTH_LADDER = (1, 2, 3, 4, 6, 8, 12, 16)  # then x2 (24, 32, 48, ...): boxcars within a factor 1.5 of each other
WIDTH_OVERSHOOT = 1.25  # the widest boxcar may exceed max_width_s by this factor (the nearest ladder step)


@dataclass(frozen=True)
class DedispersionLevel:
    """DM trials searched at one time resolution.

    factor: decimation 2^k (level sample = factor * tsamp). first: index of this level's first trial in
    the plan's `dms`. dms: the trials (pc cm^-3), ascending. max_delay: dispersion delay (level samples)
    of the band at this level's largest DM. widths: boxcar widths in level samples, ascending.
    """

    factor: int
    first: int
    dms: np.ndarray
    max_delay: int
    widths: np.ndarray

    @property
    def widths_original(self) -> np.ndarray:
        """Boxcar widths in original samples."""
        return self.widths * self.factor


@dataclass(frozen=True)
class DedispersionPlan:
    """DM trials grouped in decimation levels for a band of `nchans` channels from `f_top_mhz` down by
    `channel_width_mhz` (> 0), sampled every `tsamp` s. dms: every trial, ascending (levels hold
    consecutive slices). max_delay: sweep (original samples) at the largest trial. overlap: samples a
    chunk must share with the next so that every pulse arriving in it is whole in one chunk (sweep plus
    the widest boxcar, a multiple of the largest factor). dm_max_requested: dm_max before any clamp."""

    f_top_mhz: float
    channel_width_mhz: float
    nchans: int
    tsamp: float
    dms: np.ndarray
    levels: tuple[DedispersionLevel, ...]
    max_delay: int
    overlap: int
    dm_max_requested: float

    @property
    def frequencies_mhz(self) -> np.ndarray:
        """Channel centres, descending (channel 0 the highest)."""
        return self.f_top_mhz - self.channel_width_mhz * np.arange(self.nchans)

    @property
    def max_factor(self) -> int:
        return max(level.factor for level in self.levels)

    def trials_per_level(self) -> dict[int, int]:
        """Decimation factor -> number of DM trials."""
        return {level.factor: len(level.dms) for level in self.levels}


def trial_smearing(dms: np.ndarray, f_top_mhz: float, channel_width_mhz: float, nchans: int) -> np.ndarray:
    """Smearing (s) a pulse shows at each trial: intra-channel smearing at the band centre and the smearing of
    a pulse half way to the next trial, added in quadrature (the terms dm_trial_grid spaces the trials by)."""
    width = abs(channel_width_mhz)
    f_centre_ghz = (f_top_mhz - (nchans / 2 - 0.5) * width) / 1e3
    a = SMEARING_US_PER_MHZ * 1e-6 * width / f_centre_ghz**3  # s per unit DM, one channel
    b = a * nchans / 4  # s per unit DM error, a quarter of the band (dedisp's b)
    steps = np.diff(dms, append=dms[-1] + (dms[-1] - dms[-2] if len(dms) > 1 else 1.0))
    return np.sqrt((a * dms) ** 2 + (b * steps) ** 2)


def width_ladder(max_samples: float) -> np.ndarray:
    """The boxcar ladder 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, ... up to the first value >= `max_samples`."""
    ladder = list(WIDTH_LADDER)
    while ladder[-1] < max_samples:
        ladder.append(2 * ladder[-2])
    return np.asarray(ladder, dtype=np.int64)


def level_widths(min_width_s: float, max_width_s: float, sample_s: float) -> np.ndarray:
    """Boxcar widths (level samples) from the ladder step at or below `min_width_s` up to the widest within
    WIDTH_OVERSHOOT * `max_width_s` (at least one width)."""
    ladder = width_ladder(WIDTH_OVERSHOOT * max_width_s / sample_s)
    lo = ladder[ladder <= max(1.0, np.floor(min_width_s / sample_s + 0.5))].max()
    widths = ladder[(ladder >= lo) & (ladder * sample_s <= WIDTH_OVERSHOOT * max_width_s)]
    return widths if len(widths) else np.array([lo], dtype=np.int64)


def reachable_dm(nsamples: int, tsamp: float, f_top_mhz: float, channel_width_mhz: float, nchans: int) -> float:
    """The DM whose band sweep is half of `nsamples` samples: a search needs about twice the sweep of data."""
    return 0.5 * nsamples * tsamp / band_sweep(1.0, f_top_mhz, channel_width_mhz, nchans)


def make_plan(
    f_top_mhz: float,
    channel_width_mhz: float,
    nchans: int,
    tsamp: float,
    dm_min: float = 0.0,
    dm_max: float = 1000.0,
    tolerance: float = 1.25,
    min_width_s: float = 0.25e-3,
    max_width_s: float = 0.05,
    nsamples: int | None = None,
) -> DedispersionPlan:
    """The plan for a band from the top channel centre `f_top_mhz` down `nchans` channels of
    `channel_width_mhz` MHz (sign ignored), sampled every `tsamp` s.

    When the stream is known to hold `nsamples` samples and that is less than twice the sweep at dm_max,
    dm_max is clamped to the DM whose sweep is half the stream (warning naming that DM).
    """
    if tsamp <= 0 or nchans < 2 or min_width_s <= 0 or max_width_s < min_width_s:
        raise ValueError(
            f"make_plan: needs tsamp > 0 (got {tsamp}), nchans >= 2 (got {nchans}) and "
            f"0 < min_width_s <= max_width_s (got {min_width_s}, {max_width_s})"
        )
    width = abs(channel_width_mhz)
    requested = float(dm_max)
    if nsamples is not None:
        reach = reachable_dm(nsamples, tsamp, f_top_mhz, width, nchans)
        if reach < dm_max:
            log.warning(
                "%d samples (%.3g s) hold less than twice the sweep at DM %g; searching to DM %.4g, the largest "
                "the stream can reach (give a longer stream or a smaller dm_max)",
                nsamples,
                nsamples * tsamp,
                dm_max,
                reach,
            )
            dm_max = reach
    if dm_max <= dm_min:
        raise ValueError(f"make_plan: dm_max {dm_max:.4g} <= dm_min {dm_min:g}; the stream is too short for dm_min")
    dms = dm_trial_grid(f_top_mhz, width, nchans, tsamp, dm_max, min_width_s, tolerance, dm_min)
    narrowest = np.sqrt(min_width_s**2 + trial_smearing(dms, f_top_mhz, width, nchans) ** 2)
    k = np.floor(np.log2(np.maximum(narrowest / 2 / tsamp, 1.0))).astype(int)
    k = np.maximum.accumulate(k)  # decimation never decreases with DM
    f_bottom = f_top_mhz - width * (nchans - 1)
    levels = []
    for level_k in np.unique(k):
        members = np.flatnonzero(k == level_k)
        factor = 1 << int(level_k)
        sample_s = factor * tsamp
        sweep = band_sweep(float(dms[members[-1]]), f_top_mhz, width, nchans)
        widths = level_widths(float(narrowest[members].min()), max_width_s, sample_s)
        levels.append(
            DedispersionLevel(factor, int(members[0]), dms[members], int(np.ceil(sweep / sample_s)) + 1, widths)
        )
    max_delay = int(np.ceil(dispersion_delay(float(dms[-1]), np.array([f_bottom]), f_top_mhz)[0] / tsamp)) + 1
    max_factor = max(level.factor for level in levels)
    # each level reads its sweep plus its widest boxcar (and a sample) past a chunk's last searched sample
    reach = max((level.max_delay + int(level.widths.max()) + 1) * level.factor for level in levels)
    overlap = int(np.ceil(reach / max_factor)) * max_factor
    return DedispersionPlan(f_top_mhz, width, nchans, tsamp, dms, tuple(levels), max_delay, overlap, requested)
