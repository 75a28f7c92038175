"""ANNALISA coincidence ranking, selection scores, glitch clusters, veto and de-noising accuracy."""

import numpy as np
import pytest

from twins.virgo.annalisa import coincidence_table, selection_scores
from twins.virgo.generate import denoise
from twins.virgo.validate import accuracy_curves, contains_glitch


def _spectrograms(rng, n, spikes, f=8, t=32):
    """Exponential (white-noise) energies with a loud block at the given (segment, time bin)s."""
    energy = rng.exponential(1.0, (n, f, t))
    for seg, tb in spikes:
        energy[seg, 2:5, tb: tb + 2] = 100.0
    return energy


def test_coupled_channel_ranks_first_and_decoys_are_dropped():
    rng = np.random.default_rng(0)
    n = 40
    times = [(s, rng.integers(2, 28)) for s in range(0, n, 2)]  # glitches in every other segment
    strain = _spectrograms(rng, n, times)
    coupled = _spectrograms(rng, n, [(s, tb + 1) for s, tb in times])  # within the window
    decoy = _spectrograms(rng, n, [(s + 1, tb) for s, tb in times])  # spikes, but never together with strain
    quiet = _spectrograms(rng, n, [])
    aux = np.stack([decoy, quiet, coupled], axis=1)
    table = coincidence_table(strain, aux, ["decoy", "quiet", "coupled"], bin_seconds=0.0625, window=0.125)
    assert table.iloc[0]["channel"] == "coupled" and table.iloc[0]["coincident_fraction"] == 1.0
    assert table.set_index("channel").loc["decoy", "coincident_fraction"] == 0.0
    assert table["selected"].tolist() == [True, False, False]
    assert list(table["rank"]) == [1, 2, 3]


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


def test_denoising_subtracts_only_the_excess_over_the_generated_floor():
    real = np.full((1, 4, 4), 1.0)
    real[0, 0, 0] = 50.0
    generated = np.full((1, 4, 4), 0.8)
    generated[0, 0, 0] = 40.8
    residual = denoise(real, generated)
    assert residual[0, 0, 0] == pytest.approx(10.0)
    assert residual[0, 1, 1] == pytest.approx(1.0)  # noise pixels keep their energy
