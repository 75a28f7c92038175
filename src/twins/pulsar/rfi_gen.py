"""PulsarRFI_Gen: an empirical frame generator, independent of PulsarDT's physics.

Each frame mimics what real frames look like rather than how they arise: banded noise (a smooth
random walk of channel levels with sigma proportional to level), a pulse drawn as a curved track
t(f) = t0 + k (f^-2 - f_top^-2) with a Gaussian time profile at a requested S/N, narrow-band RFI as
horizontal stripes (on/off segments), broad-band RFI as vertical stripes over a contiguous part of
the band. Frames are raw tiles (geometry.tile_samples x geometry.tile_channels), in noise-sigma
units before 8-bit digitisation, one class combination per frame.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from twins.pulsar.frames import FrameGeometry
from twins.pulsar.snr import dedisperse, series_snr
from twins.pulsar.telescope import Telescope
from twins.pulsar.truth import BB_BIT, NB_BIT, PULSE_BIT, PULSE_MASK_SIGMA, SimulatedTruth

CLASS_BITS = {"pulse": PULSE_BIT, "nb_rfi": NB_BIT, "bb_rfi": BB_BIT}


def parse_combination(name: str) -> tuple[str, ...]:
    """'none' -> (); 'pulse+nb_rfi' -> ('pulse', 'nb_rfi')."""
    if name == "none":
        return ()
    parts = tuple(name.split("+"))
    unknown = [p for p in parts if p not in CLASS_BITS]
    if unknown:
        raise ValueError(f"unknown class {unknown} in '{name}'; use none or +-joined {sorted(CLASS_BITS)}")
    return parts


def _pulse(rng, n_t, n_f, freqs, tsamp, settings):
    """Noiseless pulse track (n_t, n_f) in sigma units at unit amplitude, and its integer delays."""
    sweep = rng.uniform(*settings["sweep_fraction"]) * n_t  # samples between top and bottom channel
    f2 = freqs.astype(float) ** -2
    delays = (f2 - f2.min()) / (f2.max() - f2.min()) * sweep
    t0 = rng.uniform(0.1, 0.9 - sweep / n_t) * n_t if sweep < 0.8 * n_t else rng.uniform(0, 0.1) * n_t
    width = rng.uniform(*settings["width_samples"])
    t = np.arange(n_t)[:, None]
    amplitude_profile = 1 + 0.5 * np.sin(np.linspace(0, rng.uniform(1, 6), n_f) + rng.uniform(0, 6))
    track = np.exp(-0.5 * ((t - t0 - delays[None, :]) / width) ** 2) * amplitude_profile[None, :]
    return track.astype(np.float32), np.rint(delays).astype(int)


def generate_frame(rng, combination: tuple[str, ...], snr: float, geometry: FrameGeometry, freqs, tsamp, settings):
    """One frame: (noise-unit data (n_t, n_f), level (n_f,), pixel mask bits, injected S/N)."""
    n_t, n_f = geometry.tile_samples, geometry.tile_channels
    x = rng.standard_normal((n_t, n_f), dtype=np.float32)
    mask = np.zeros((n_t, n_f), dtype=np.uint8)
    injected = 0.0
    if "pulse" in combination:
        track, delays = _pulse(rng, n_t, n_f, freqs, tsamp, settings)
        unit = series_snr(dedisperse(track, delays).sum(axis=1, dtype=np.float64), n_f)
        track *= snr / unit
        x += track
        mask[track >= PULSE_MASK_SIGMA] |= PULSE_BIT
        injected = snr
    if "nb_rfi" in combination:
        for _ in range(int(rng.integers(1, 5))):
            c = int(rng.integers(n_f))
            chans = slice(c, min(c + int(rng.integers(1, 4)), n_f))
            start = int(rng.integers(0, n_t // 2)) if rng.random() < 0.5 else 0
            stop = int(rng.integers(start + n_t // 4, n_t + 1)) if start else n_t
            x[start:stop, chans] += rng.uniform(*settings["nb_amplitude_sigma"])
            mask[start:stop, chans] |= NB_BIT
    if "bb_rfi" in combination:
        for _ in range(int(rng.integers(1, 4))):
            t = int(rng.integers(n_t))
            width = int(rng.integers(1, 6))
            lo = int(rng.integers(0, n_f // 4))
            hi = int(rng.integers(3 * n_f // 4, n_f + 1))
            x[t : t + width, lo:hi] += rng.uniform(*settings["bb_amplitude_sigma"])
            mask[t : t + width, lo:hi] |= BB_BIT
    walk = np.cumsum(rng.normal(0, 0.02, n_f))
    level = np.exp(walk - walk.mean()) * rng.uniform(0.7, 1.2)
    return x, level, mask, injected


def generate_frames(rng, settings: dict, geometry: FrameGeometry, freqs, tsamp, digitiser: dict):
    """All frames of a dataset in a random order: 8-bit counts (n*n_t, n_f), pixel mask, labels
    (n, 3), injected S/N (n,), combination names (n,). S/N log-uniform in settings['snr']."""
    combos = [c for c in settings["classes"] for _ in range(settings["frames_per_class"])]
    order = rng.permutation(len(combos))
    counts, masks, labels, snrs = [], [], [], []
    lo, hi = np.log(settings["snr"]["min"]), np.log(settings["snr"]["max"])
    for i in order:
        combination = parse_combination(combos[i])
        snr = float(np.exp(rng.uniform(lo, hi)))
        x, level, mask, injected = generate_frame(rng, combination, snr, geometry, freqs, tsamp, settings)
        c = digitiser["level"] * level[None, :] + digitiser["sigma"] * level[None, :] * x
        counts.append(np.clip(np.rint(c), 0, 255).astype(np.uint8))
        masks.append(mask)
        labels.append([name in combination for name in ("pulse", "nb_rfi", "bb_rfi")])
        snrs.append(injected)
    return (
        np.concatenate(counts),
        np.concatenate(masks),
        np.asarray(labels, dtype=np.uint8),
        np.asarray(snrs, dtype=np.float32),
        np.asarray([combos[i] for i in order]),
    )


def simulate_frames(
    rng: np.random.Generator,
    settings: dict,
    telescope: Telescope,
    geometry: FrameGeometry,
    write_spectra: Callable[[np.ndarray, np.ndarray], None],
) -> SimulatedTruth:
    """An RFI_Gen dataset: every frame one raw tile of the telescope's whole band, written as one filterbank
    (8-bit counts and pixel-mask bits to `write_spectra`); returns the frames' labels, S/N and combinations."""
    freqs = telescope.frequencies_mhz[: geometry.tile_channels]
    if telescope.nchans != geometry.tile_channels:
        raise ValueError(
            f"rfi_gen frames are {geometry.tile_channels} channels (frames.size x freq_downsample) but the "
            f"telescope has {telescope.nchans}; pick a preset or frame geometry that match"
        )
    counts, masks, labels, snrs, combos = generate_frames(
        rng, settings, geometry, freqs, telescope.tsamp_s, telescope.digitiser
    )
    write_spectra(counts, masks)
    datasets = {
        "labels": labels,
        "snr": snrs,
        "frame_scan": np.zeros(len(labels), dtype=np.int32),
        "combination": combos.astype("S"),
    }
    summary = {"frames": int(len(labels)), "class_counts": labels.sum(axis=0).tolist(), "samples": int(counts.shape[0])}
    return SimulatedTruth(datasets, summary)
