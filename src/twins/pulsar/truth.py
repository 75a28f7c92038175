"""Per-frame ground truth from per-pixel truth: labels and the injected pulse S/N of every frame."""

from __future__ import annotations

import numpy as np

from twins.pulsar.dispersion import delay_samples
from twins.pulsar.frames import FrameGeometry, tile_slices
from twins.pulsar.pulsar_dt import BB_BIT, NB_BIT
from twins.pulsar.snr import dedispersed_series, series_snr


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
