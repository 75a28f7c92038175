"""Backgrounds for pulse injection (FETCH's recipe): real files split by time, their per-channel noise levels, and
simulated radiometer noise where no real file is long enough.

Real files: `time_ranges` cuts a stream into contiguous train/validation/test ranges so that no sample (and no
injected pulse, see twins.pulsar.injection) is shared between them; `noise_levels` gives each channel's robust
level and noise sigma, the units of the injection. Simulated: `simulated_background` makes 8-bit-like counts of a
telescope preset (bandpass gain, digitiser level, optional PulsarDT RFI), e.g. for DM 1000 sweeps (~4.3 s over
856-1712 MHz) that no 2 s real file holds. `telescope_from_header` lets PulsarDT's pulse templates follow any
file's channelisation.
"""

from __future__ import annotations

import numpy as np

from twins.core.config import resolve
from twins.pulsar.pulsar_dt import add_broadband_rfi, add_narrowband_rfi, quantise
from twins.pulsar.telescope import Telescope

MAD_TO_SIGMA = 1.4826
HEADER_KEYS = ("nchans", "fch1", "foff", "tsamp")
LEVEL_SAMPLES = 1 << 13  # noise_levels measures on at most about twice this many rows (sigma to ~1%)


def time_ranges(nsamples: int, fractions: dict[str, float] | None = None) -> dict[str, tuple[int, int]]:
    """Contiguous, disjoint sample ranges [start, stop) covering 0..nsamples, one per split in the order of
    `fractions` (default: the schema's pulsar.candidates.splits, train 0.6, validation 0.15, test 0.25).
    Boundaries are the rounded cumulative fractions, so the ranges tile the stream exactly."""
    fractions = dict(resolve("pulsar.candidates.splits", None) if fractions is None else fractions)
    values = np.asarray(list(fractions.values()), dtype=float)
    if not values.size or np.any(values <= 0) or abs(values.sum() - 1.0) > 1e-9:
        raise ValueError(
            f"time_ranges: fractions {fractions} must be positive and sum to 1 (they sum to {values.sum():.6g}); "
            "rescale them"
        )
    edges = np.rint(np.concatenate([[0.0], np.cumsum(values)]) * nsamples).astype(int)
    edges[-1] = nsamples
    ranges = {name: (int(a), int(b)) for name, a, b in zip(fractions, edges[:-1], edges[1:])}
    empty = [name for name, (a, b) in ranges.items() if b <= a]
    if empty:
        raise ValueError(f"time_ranges: splits {empty} get no samples of {nsamples}; use a longer stream")
    return ranges


def noise_levels(data: np.ndarray, flags: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Robust per-channel level and noise of `data` (nsamples, nchans), any channel order.

    Returns (median (nchans,), sigma (nchans,)) float64 in the data's units, sigma = 1.4826 * MAD over time.
    Channels that are flagged (`flags` (nchans,) bool, True = flagged, e.g. io.read_channel_mask) or dead
    (MAD 0, e.g. a constant or zeroed channel) get sigma NaN: `np.isfinite(sigma)` is the good-channel mask,
    and twins.pulsar.injection injects nothing there. The median is given for every channel.
    """
    x = np.asarray(data)
    if x.ndim != 2:
        raise ValueError(f"noise_levels: data must be (nsamples, nchans), got shape {x.shape}")
    # a long stream: evenly spaced rows are enough; channel-major so each median reads contiguous memory
    x = np.ascontiguousarray(x[:: max(1, x.shape[0] // LEVEL_SAMPLES)].T, dtype=np.float32)
    median = np.median(x, axis=1).astype(np.float64)
    sigma = MAD_TO_SIGMA * np.median(np.abs(x - median[:, None].astype(np.float32)), axis=1).astype(np.float64)
    sigma = np.where(sigma > 0, sigma, np.nan)
    if flags is not None:
        flags = np.asarray(flags, dtype=bool)
        if flags.shape != sigma.shape:
            raise ValueError(f"noise_levels: flags of shape {flags.shape} do not fit {x.shape[1]} channels")
        sigma[flags] = np.nan
    return median, sigma


def normalise(data: np.ndarray, median: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """(data - median) / sigma per channel as float32 (nsamples, nchans): unit-noise pixels, the units of the
    injected S/N; channels with non-finite sigma (flagged/dead) are 0, so they add neither signal nor noise."""
    good = np.isfinite(sigma) & (sigma > 0)
    # in place in float32, bad channels scaled by 0: no fancy-indexed float64 copies of a whole stream
    scale = np.where(good, 1.0 / np.where(good, sigma, 1.0), 0.0).astype(np.float32)
    out = np.array(data, dtype=np.float32)
    out -= np.where(good, median, 0.0).astype(np.float32)
    out *= scale
    return out


def simulated_background(
    rng: np.random.Generator, telescope: Telescope, seconds: float, rfi_settings: dict | None = None
) -> np.ndarray:
    """`seconds` of radiometer noise of a telescope preset: (nsamples, nchans) float32 8-bit counts.

    Unit Gaussian noise per pixel (plus, with `rfi_settings` (the PulsarDT `rfi` keys), its narrow-band carriers
    and broad-band impulses) goes through the preset's bandpass gain (with ripple) and digitiser, rounded and
    clipped to 0..255 as a real 8-bit file is; float32 so injection can add to it. Channel order is the preset's.
    """
    nsamples = int(seconds / telescope.tsamp_s)
    if nsamples < 1:
        raise ValueError(f"simulated_background: {seconds} s is shorter than one sample of {telescope.tsamp_s} s")
    gain = telescope.bandpass_gain(rng)
    x = rng.standard_normal((nsamples, telescope.nchans), dtype=np.float32)
    if rfi_settings is not None:
        mask = np.zeros(x.shape, dtype=np.uint8)  # PulsarDT's pixel truth; injection backgrounds do not need it
        add_narrowband_rfi(x, mask, rng, rfi_settings, telescope)
        add_broadband_rfi(x, mask, rng, rfi_settings, telescope.tsamp_s)
    return quantise(x, gain, telescope.digitiser).astype(np.float32)


def telescope_from_header(header: dict) -> Telescope:
    """A Telescope with a file's channelisation (nchans, fch1, foff of either sign, tsamp) in the file's channel
    order, for pulsar_dt.pulse_templates. Only the channelisation is the file's: the bandpass is flat and the
    digitiser nominal (level 0, sigma 1), as injection scales pulses by each channel's measured noise instead."""
    missing = [key for key in HEADER_KEYS if key not in header]
    if missing:
        raise ValueError(f"telescope_from_header: header lacks {missing}; read the file with twins.pulsar.io")
    if float(header["foff"]) == 0 or float(header["tsamp"]) <= 0 or int(header["nchans"]) < 1:
        raise ValueError(f"telescope_from_header: impossible channelisation {[header[k] for k in HEADER_KEYS]}")
    return Telescope(
        name=str(header.get("source_name", "file")),
        telescope_id=int(header.get("telescope_id", 0)),
        machine_id=int(header.get("machine_id", 0)),
        nchans=int(header["nchans"]),
        fch1_mhz=float(header["fch1"]),
        foff_mhz=float(header["foff"]),
        tsamp_s=float(header["tsamp"]),
        bandpass={"knots": [[0.0, 1.0], [1.0, 1.0]]},
        digitiser={"level": 0.0, "sigma": 1.0},
    )
