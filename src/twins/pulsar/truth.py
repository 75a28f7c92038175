"""Ground truth of a simulation: the pixel-mask bits, per-frame labels and injected pulse S/N from per-pixel
truth, and the truth record a simulator hands to the truth file."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from twins.pulsar.dispersion import delay_samples
from twins.pulsar.frames import FrameGeometry, tile_slices
from twins.pulsar.snr import dedispersed_series, series_snr

# bits of the truth file's pixel_mask (uint8, (nsamples, nchans)): what each pixel holds
PULSE_BIT, NB_BIT, BB_BIT = 1, 2, 4
PULSE_MASK_SIGMA = 0.05  # pixels with at least this much pulse signal (noise sigma) are marked pulse


@dataclass
class SimulatedTruth:
    """What a simulator knows about the dataset it made, for the truth file (twins.pulsar.io).

    datasets: `labels` (n_frames, 3) uint8, `snr` (n_frames,) injected frame S/N, `frame_scan` (n_frames,)
        scan of each frame, plus the generator's own (PulsarDT: `scans`, `pulses`; RFI_Gen: `combination`);
    columns: column names of the table datasets (stored as their `columns` attribute);
    attrs: file attributes the generator adds (PulsarDT: `scan_samples`);
    summary: counts for the step's JSON summary (frames, class counts, samples, pulses).
    """

    datasets: dict[str, np.ndarray]
    summary: dict
    columns: dict[str, list[str]] = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)


def frame_truth(
    pulse_signal: np.ndarray,
    mask: np.ndarray,
    dm: float,
    freqs_mhz: np.ndarray,
    tsamp: float,
    geometry: FrameGeometry,
    labelling: dict,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels (n_frames, 3) uint8 [pulse, nb_rfi, bb_rfi] and pulse S/N (n_frames,) of one scan.

    pulse: the frame's injected S/N (its channels dedispersed at the scan DM, summed, best boxcar,
    unit pixel noise; a track entering the frame already part-way down the band counts with the part
    the frame holds) >= labelling['pulse_min_snr'];
    nb_rfi: some channel carries a carrier in >= labelling['nb_min_fraction'] of the frame's samples;
    bb_rfi: some sample carries an impulse in >= half of the frame's channels.
    """
    nt, nf = geometry.counts(*pulse_signal.shape)
    labels = np.zeros((nt * nf, 3), dtype=np.uint8)
    snr = np.zeros(nt * nf, dtype=np.float32)
    for index in range(nt * nf):
        rows, chans = tile_slices(index, nf, geometry)
        tile = pulse_signal[rows, chans]
        if tile.max() > 0:
            delays = delay_samples(dm, freqs_mhz[chans], tsamp)
            snr[index] = series_snr(dedispersed_series(tile, delays), tile.shape[1])
        bits = mask[rows, chans]
        nb_fraction = ((bits & NB_BIT) > 0).mean(axis=0).max()
        bb_fraction = ((bits & BB_BIT) > 0).mean(axis=1).max()
        labels[index] = (
            snr[index] >= labelling["pulse_min_snr"],
            nb_fraction >= labelling["nb_min_fraction"],
            bb_fraction >= 0.5,
        )
    return labels, snr
