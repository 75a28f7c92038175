"""Validation maths of the virgo twin: veto and de-noising accuracy vs threshold, channel-selection scores,
and the metrics record against the seeds' figures (no file I/O).

Threshold unit: normalised Q-tile energy E (white Gaussian noise: exponential, mean 1); the S/N of a tile
is sqrt(2E), so a threshold at S/N rho is E = rho^2 / 2. A spectrogram "contains a glitch" when a
connected cluster (8-connectivity, scipy.ndimage.label) of at least `min_cluster_pixels` pixels lies above
the threshold.
- veto accuracy = (TP + TN) / N, where the truth is whether the real strain spectrogram contains a glitch
  and the prediction whether the generated one does;
- de-noising accuracy = fraction of residual (de-noised) spectrograms that contain no glitch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

# The seeds' (interTwin) accuracy figures at S/N 3 and 6, which the validation reports against.
SEED_FIGURES = {3.0: {"veto": 0.85, "denoise": 0.95}, 6.0: {"veto": 0.95, "denoise": 0.99}}
TARGET_REAL_TIME_FACTOR = 100.0


def contains_glitch(energy: np.ndarray, snr_threshold: float, min_cluster_pixels: int) -> np.ndarray:
    """(n,) bool: spectrogram i of (n, F, T) energies has a cluster >= min_cluster_pixels with S/N >= threshold."""
    above = energy >= snr_threshold**2 / 2.0
    out = np.zeros(len(energy), bool)
    for i, mask in enumerate(above):
        if mask.sum() < min_cluster_pixels:
            continue
        labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
        out[i] = n > 0 and np.bincount(labels.ravel())[1:].max() >= min_cluster_pixels
    return out


def accuracy_curves(
    real: np.ndarray, generated: np.ndarray, residual: np.ndarray, thresholds: list[float], min_cluster_pixels: int
) -> pd.DataFrame:
    """One row per S/N threshold: energy threshold, veto accuracy and its confusion counts, de-noising
    accuracy, and the fraction of raw (not de-noised) spectrograms without a glitch for comparison."""
    rows = []
    for rho in thresholds:
        truth = contains_glitch(real, rho, min_cluster_pixels)
        pred = contains_glitch(generated, rho, min_cluster_pixels)
        clean = ~contains_glitch(residual, rho, min_cluster_pixels)
        rows.append(
            {
                "snr_threshold": rho,
                "energy_threshold": rho**2 / 2.0,
                "veto_accuracy": float(np.mean(truth == pred)),
                "true_positive": int(np.sum(truth & pred)),
                "true_negative": int(np.sum(~truth & ~pred)),
                "false_positive": int(np.sum(~truth & pred)),
                "false_negative": int(np.sum(truth & ~pred)),
                "denoising_accuracy": float(clean.mean()),
                "raw_clean_fraction": float(np.mean(~truth)),
            }
        )
    return pd.DataFrame(rows)


def curve_thresholds(snr_thresholds: list[float]) -> list[float]:
    """The configured S/N thresholds and the seeds' ones, sorted without repeats."""
    return sorted(set(float(t) for t in snr_thresholds) | set(SEED_FIGURES))


def selection_scores(selected: list[str], coupled: list[str], all_channels: list[str]) -> dict[str, float]:
    """Precision and recall of the selected channels against the simulator's truth, and decoys kept."""
    chosen, truth = set(selected), set(coupled)
    true_pos = len(chosen & truth)
    return {
        "precision": true_pos / len(chosen) if chosen else 0.0,
        "recall": true_pos / len(truth) if truth else 1.0,
        "decoys_selected": len(chosen - truth),
        "coupled_missed": sorted(truth - chosen),
        "n_channels": len(all_channels),
    }


def accuracy_at_seed_thresholds(curves: pd.DataFrame) -> dict[str, dict]:
    """{"snr_3": {...}, "snr_6": {...}}: the accuracies at the seeds' thresholds, the seeds' figures, and
    whether both are met."""
    at = {}
    for rho, seeds in SEED_FIGURES.items():
        row = curves.loc[curves["snr_threshold"] == rho].iloc[0]
        at[f"snr_{rho:g}"] = {
            "energy_threshold": rho**2 / 2,
            "veto_accuracy": row["veto_accuracy"],
            "denoising_accuracy": row["denoising_accuracy"],
            "raw_clean_fraction": row["raw_clean_fraction"],
            "seeds_veto": seeds["veto"],
            "seeds_denoising": seeds["denoise"],
            "meets_seeds": bool(
                row["veto_accuracy"] >= seeds["veto"] and row["denoising_accuracy"] >= seeds["denoise"]
            ),
        }
    return at


def validation_metrics(
    curves: pd.DataFrame, labels: np.ndarray, min_cluster_pixels: int, selection: dict, latency: dict
) -> dict:
    """The metrics record of rule virgo_validate: accuracies at the seeds' thresholds, channel selection
    against the truth (selection: selected, coupled_truth, channels), latency against its target.
    labels: (n_test,) 'glitch'/'background' of the test spectrograms."""
    scores = selection_scores(selection["selected"], selection["coupled_truth"], selection["channels"])
    return {
        "threshold_unit": "normalised Q-tile energy E; S/N = sqrt(2E)",
        "min_cluster_pixels": min_cluster_pixels,
        "n_test": int(len(labels)),
        "n_test_glitch": int(np.sum(labels == "glitch")),
        "accuracy": accuracy_at_seed_thresholds(curves),
        "channel_selection": {
            **scores,
            "selected": selection["selected"],
            "coupled_truth": selection["coupled_truth"],
            "target_met": scores["recall"] == 1.0 and scores["decoys_selected"] <= 1,
        },
        "latency": {
            **latency,
            "target_real_time_factor": TARGET_REAL_TIME_FACTOR,
            "target_met": latency["real_time_factor"] >= TARGET_REAL_TIME_FACTOR,
        },
    }
