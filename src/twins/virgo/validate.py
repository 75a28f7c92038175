"""Rule virgo_validate: veto and de-noising accuracy vs threshold, channel selection, latency.

Threshold unit: normalised Q-tile energy E (white Gaussian noise: exponential, mean 1); the S/N of a tile
is sqrt(2E), so a threshold at S/N rho is E = rho^2 / 2. A spectrogram "contains a glitch" when a
connected cluster (8-connectivity, scipy.ndimage.label) of at least `min_cluster_pixels` pixels lies above
the threshold.
- veto accuracy = (TP + TN) / N, where the truth is whether the real strain spectrogram contains a glitch
  and the prediction whether the generated one does;
- de-noising accuracy = fraction of residual (de-noised) spectrograms that contain no glitch.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import ndimage

from twins.core.io import open_hdf5, read_json, write_json
from twins.virgo.annalisa import selection_scores

log = logging.getLogger(__name__)

SEED_FIGURES = {3.0: {"veto": 0.85, "denoise": 0.95}, 6.0: {"veto": 0.95, "denoise": 0.99}}


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


def run_validate(settings: dict, generated_h5, selection_json, timing_json, out_metrics, out_curves) -> None:
    with open_hdf5(generated_h5, required=("real_energy", "generated_energy", "residual_energy")) as f:
        real, generated, residual = (f[k][...] for k in ("real_energy", "generated_energy", "residual_energy"))
        labels = f["meta/label"][...].astype(str)
    thresholds = sorted(set(float(t) for t in settings["snr_thresholds"]) | set(SEED_FIGURES))
    curves = accuracy_curves(real, generated, residual, thresholds, settings["min_cluster_pixels"])
    curves.to_csv(out_curves, index=False)
    selection = read_json(selection_json)
    scores = selection_scores(selection["selected"], selection["coupled_truth"], selection["channels"])
    timing = read_json(timing_json)["latency"]
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
    metrics = {
        "threshold_unit": "normalised Q-tile energy E; S/N = sqrt(2E)",
        "min_cluster_pixels": settings["min_cluster_pixels"],
        "n_test": int(len(real)),
        "n_test_glitch": int(np.sum(labels == "glitch")),
        "accuracy": at,
        "channel_selection": {
            **scores,
            "selected": selection["selected"],
            "coupled_truth": selection["coupled_truth"],
            "target_met": scores["recall"] == 1.0 and scores["decoys_selected"] <= 1,
        },
        "latency": {**timing, "target_real_time_factor": 100.0, "target_met": timing["real_time_factor"] >= 100.0},
    }
    write_json(out_metrics, metrics)
    log.info("validation: %s", metrics["accuracy"])
