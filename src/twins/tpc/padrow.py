"""The detailed pad-row simulator: ionisation, drift with diffusion, gas gain, induced charge, shaping, ADC.

For each segment, in the row's local frame (x along the row, y across it, outwards; the segment spans
y in [-L/2, L/2] for pad length L):
  1. primary ionisation clusters, Poisson with mean (clusters per cm at MIP) x (relative Bethe-Bloch
     ionisation at the particle's beta*gamma) x (3-D path length), placed uniformly along the segment;
     each holds n electrons from the measured cluster-size distribution with its 1/n^2 tail;
  2. every electron drifts to the readout plane: transverse diffusion smears x by D_T sqrt(drift),
     longitudinal diffusion smears the drift distance (so the arrival time) by D_L sqrt(drift);
  3. avalanche gain per electron from a Polya distribution;
  4. the avalanche induces a Gaussian charge cloud on the pad plane, integrated over each pad;
  5. a CR-RC^n shaper turns the charge into a pulse sampled once per time bucket;
  6. electronics noise per sample, ADC rounding and saturation, zero suppression.
Electrons diffusing across the row's edges in y are neglected (in- and outflow balance for a straight
track); there is no attachment. All steps are vectorised over the electrons of a batch of segments.

Response window: `pads` x `time_buckets` (8 x 16 for MPD); the crossing point lies in pad `pads_before`
and its arrival time in bucket `buckets_before`, offset by the fractional pad coordinate and drift time.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from scipy import sparse
from scipy.special import ndtr

from twins.tpc.detector import ELECTRON_CHARGE_FC, PadRowDetector
from twins.tpc.tracks import sample_segments

ELECTRON_MASS_EV = 0.51099895e6


def relative_ionisation(beta_gamma: np.ndarray, mean_excitation_ev: float) -> np.ndarray:
    """Bethe-Bloch mean energy loss (T_max ~ 2 m c^2 beta^2 gamma^2, no density effect), relative to its
    minimum: (ln(2 m c^2 / I) + 2 ln(beta gamma) - beta^2) / beta^2, normalised at minimum ionisation."""

    def bethe(bg):
        beta2 = bg**2 / (1 + bg**2)
        return (np.log(2 * ELECTRON_MASS_EV / mean_excitation_ev) + 2 * np.log(bg) - beta2) / beta2

    grid = np.geomspace(0.5, 100.0, 2000)
    return bethe(np.asarray(beta_gamma, dtype=np.float64)) / bethe(grid).min()


def cluster_size_table(ionisation: dict) -> np.ndarray:
    """Probabilities of cluster sizes 1..max_cluster_size: the listed ones, then c / n^2 matched at the last."""
    listed = np.asarray(ionisation["cluster_size_probabilities"], dtype=np.float64)
    sizes = np.arange(1, int(ionisation["max_cluster_size"]) + 1)
    last = len(listed)
    tail = listed[-1] * (last / sizes[last:]) ** 2
    probs = np.concatenate([listed, tail])[: len(sizes)]
    return probs / probs.sum()


def shaper_pulse(time_ns: np.ndarray, order: int, peaking_time_ns: float) -> np.ndarray:
    """CR-RC^n response to a unit charge at t = 0, 1 at the peak (t = peaking time), 0 before t = 0."""
    x = np.maximum(time_ns, 0.0) / peaking_time_ns
    return np.where(time_ns > 0, x**order * np.exp(order * (1.0 - x)), 0.0)


def fractional_bucket(drift_length: np.ndarray, detector: PadRowDetector) -> np.ndarray:
    """Fractional part of the crossing point's drift time in time buckets, in [0, 1)."""
    t = np.asarray(drift_length) / detector.drift_per_bucket_cm
    return t - np.floor(t)


def fractional_pad(pad_coordinate: np.ndarray) -> np.ndarray:
    """Fractional part of the pad coordinate (position within the crossing pad), in [0, 1)."""
    return np.asarray(pad_coordinate) - np.floor(pad_coordinate)


class PadRowSimulator:
    """Detailed response simulation for one detector; `simulate(segments, rng)` -> (N, pads, buckets) ADC."""

    def __init__(self, detector: PadRowDetector, segments_per_batch: int = 400) -> None:
        self.detector = detector
        self.segments_per_batch = int(segments_per_batch)
        self.sizes = np.arange(1, int(detector.ionisation["max_cluster_size"]) + 1)
        self.size_cdf = np.cumsum(cluster_size_table(detector.ionisation))
        self.pad_lengths = detector.pad_lengths_cm
        pads, buckets = detector.window_shape
        self.pad_edges = np.arange(pads + 1) * detector.pad_pitch_cm
        self.bucket_times = np.arange(buckets, dtype=np.float64)

    def simulate(self, segments: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        """segments: the features of `twins.tpc.tracks` (crossing_angle, dip_angle, drift_length,
        pad_coordinate, pad_row, beta_gamma), (N,) each -> responses float32 (N, pads, time_buckets)."""
        n = len(segments["drift_length"])
        out = np.empty((n, *self.detector.window_shape), dtype=np.float32)
        for start in range(0, n, self.segments_per_batch):
            sl = slice(start, start + self.segments_per_batch)
            out[sl] = self._batch({k: np.asarray(v)[sl] for k, v in segments.items()}, rng)
        return out

    def _batch(self, seg: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        det = self.detector
        pads, buckets = det.window_shape
        m = len(seg["drift_length"])
        alpha = seg["crossing_angle"]
        tan_alpha, cos_alpha = np.tan(alpha), np.cos(alpha)
        tan_dip = np.tan(seg["dip_angle"])
        length = self.pad_lengths[seg["pad_row"]]
        path = length / (cos_alpha * np.cos(seg["dip_angle"]))

        # 1. primary clusters and their electrons
        mean_clusters = (
            det.ionisation["clusters_per_cm_mip"]
            * relative_ionisation(seg["beta_gamma"], det.ionisation["mean_excitation_ev"])
            * path
        )
        n_clusters = rng.poisson(mean_clusters)
        cluster_seg = np.repeat(np.arange(m), n_clusters)
        cluster_y = rng.uniform(-0.5, 0.5, len(cluster_seg)) * length[cluster_seg]
        cluster_size = self.sizes[
            np.minimum(np.searchsorted(self.size_cdf, rng.random(len(cluster_seg))), len(self.sizes) - 1)
        ]
        seg_e = np.repeat(cluster_seg, cluster_size)
        y = np.repeat(cluster_y, cluster_size)
        n_e = len(seg_e)

        # 2. drift with diffusion (the drift length shrinks along a track dipping towards the readout)
        drift0 = seg["drift_length"][seg_e]
        drift = np.maximum(drift0 - y * tan_dip[seg_e] / cos_alpha[seg_e], 0.0)
        sqrt_drift = np.sqrt(drift)
        x = (
            (det.window["pads_before"] + fractional_pad(seg["pad_coordinate"]))[seg_e] * det.pad_pitch_cm
            + y * tan_alpha[seg_e]
            + det.diffusion_transverse_cm_per_sqrt_cm * sqrt_drift * rng.standard_normal(n_e)
        )
        arrival = drift + det.diffusion_longitudinal_cm_per_sqrt_cm * sqrt_drift * rng.standard_normal(n_e)
        bucket = (
            det.window["buckets_before"]
            + fractional_bucket(seg["drift_length"], det)[seg_e]
            + (arrival - drift0) / det.drift_per_bucket_cm
        )

        # 3. Polya gas gain per electron
        shape = 1.0 + det.polya_theta
        charge_fc = rng.gamma(shape, det.gas_gain / shape, n_e) * ELECTRON_CHARGE_FC

        # 4. induced charge on the pads; 5. shaped pulse sampled per time bucket
        on_pads = np.diff(ndtr((self.pad_edges[None, :] - x[:, None]) / det.pad_response_sigma_cm), axis=1)
        on_pads *= (charge_fc * det.shaping["adc_per_fc"])[:, None]
        pulse = shaper_pulse(
            (self.bucket_times[None, :] - bucket[:, None]) * det.time_bucket_ns,
            int(det.shaping["order"]),
            det.shaping["peaking_time_ns"],
        )
        per_electron = (on_pads[:, :, None] * pulse[:, None, :]).reshape(n_e, pads * buckets)
        owner = sparse.csr_matrix((np.ones(n_e), (seg_e, np.arange(n_e))), shape=(m, n_e))
        signal = np.asarray(owner @ per_electron).reshape(m, pads, buckets)

        # 6. noise, ADC, zero suppression
        adc = np.rint(signal + det.noise_adc * rng.standard_normal(signal.shape))
        adc = np.clip(adc, 0.0, det.adc_max)
        adc[adc < det.zero_suppression_adc] = 0.0
        return adc.astype(np.float32)


def simulate_segments(
    n: int, detector: PadRowDetector, settings: dict[str, Any], rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray, float]:
    """n segments from helices (`twins.tpc.tracks.sample_segments`, settings: the tpc.simulate slice) and their
    detailed responses, both drawn from `rng` in that order: (segments {feature: (N,)}, responses float32
    (N, pads, buckets) ADC, seconds). The seconds cover the response simulation only: what a generator replaces."""
    segments = sample_segments(n, detector, settings, rng)
    started = time.perf_counter()
    responses = PadRowSimulator(detector).simulate(segments, rng)
    return segments, responses, time.perf_counter() - started
