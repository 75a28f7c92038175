"""Validation maths: glitch clusters, veto and de-noising accuracy, channel-selection scores."""

import numpy as np
import pandas as pd
import pytest

from twins.virgo.denoising import denoise
from twins.virgo.metrics import (
    SEED_FIGURES,
    accuracy_curves,
    contains_glitch,
    curve_thresholds,
    selection_scores,
    validation_metrics,
)


def test_selection_scores():
    s = selection_scores(["a", "b", "x"], ["a", "b", "c"], ["a", "b", "c", "x", "y"])
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == pytest.approx(2 / 3)
    assert s["decoys_selected"] == 1 and s["coupled_missed"] == ["c"]


def test_glitch_is_a_large_enough_connected_cluster_above_threshold():
    energy = np.zeros((3, 16, 16))
    energy[0, 2:8, 2:8] = 20.0  # 36 pixels at S/N sqrt(40) ~ 6.3
    energy[1, ::4, ::4] = 20.0  # 16 isolated pixels: no cluster
    energy[2, 2:8, 2:8] = 10.0  # S/N 4.5
    assert contains_glitch(energy, 6.0, 32).tolist() == [True, False, False]
    assert contains_glitch(energy, 4.0, 32).tolist() == [True, False, True]
    assert contains_glitch(energy, 6.0, 1).tolist() == [True, True, False]


def test_perfect_generator_gives_perfect_veto_and_denoising():
    rng = np.random.default_rng(1)
    real = rng.exponential(1.0, (20, 16, 16))
    real[:10, 4:10, 4:10] += 30.0
    curves = accuracy_curves(real, real.copy(), denoise(real, real.copy()), [3.0, 6.0], 16)
    assert curves["veto_accuracy"].tolist() == [1.0, 1.0]
    assert curves["denoising_accuracy"].tolist() == [1.0, 1.0]
    assert curves["raw_clean_fraction"].tolist() == [0.5, 0.5]
    # a generator that only outputs the noise floor vetoes nothing and removes nothing
    flat = np.ones_like(real)
    curves = accuracy_curves(real, flat, denoise(real, flat), [6.0], 16)
    assert curves["veto_accuracy"].iloc[0] == 0.5 and curves["denoising_accuracy"].iloc[0] == 0.5


def test_metrics_record_reports_the_seeds_thresholds_and_targets():
    curves = pd.DataFrame(
        {
            "snr_threshold": curve_thresholds([6, 4]),
            "veto_accuracy": [0.9, 0.8, 0.96],
            "denoising_accuracy": [0.96, 0.9, 0.995],
            "raw_clean_fraction": [0.5, 0.5, 0.5],
        }
    )
    assert curves["snr_threshold"].tolist() == [3.0, 4.0, 6.0] == sorted({*SEED_FIGURES, 4.0})
    selection = {"selected": ["a", "x"], "coupled_truth": ["a"], "channels": ["a", "x", "y"]}
    record = validation_metrics(curves, np.array(["glitch", "background"]), 32, selection, {"real_time_factor": 150.0})
    assert record["n_test"] == 2 and record["n_test_glitch"] == 1 and record["min_cluster_pixels"] == 32
    assert record["accuracy"]["snr_3"]["meets_seeds"] and record["accuracy"]["snr_6"]["meets_seeds"]
    assert record["accuracy"]["snr_3"]["energy_threshold"] == 4.5
    assert record["channel_selection"]["target_met"] and record["channel_selection"]["decoys_selected"] == 1
    assert record["latency"]["target_met"] and record["latency"]["target_real_time_factor"] == 100.0
