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
        energy[seg, 2:5, tb : tb + 2] = 100.0
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


def test_denoising_subtracts_only_the_amplitude_excess_over_the_generated_floor():
    real = np.full((1, 4, 4), 1.0)
    real[0, 0, 0] = 49.0  # amplitude 7
    generated = np.full((1, 4, 4), 0.81)  # floor amplitude 0.9
    generated[0, 0, 0] = 5.9**2  # excess amplitude 5.0
    residual = denoise(real, generated)
    assert residual[0, 0, 0] == pytest.approx(2.0**2)
    assert residual[0, 1, 1] == pytest.approx(1.0)  # noise pixels keep their energy
    over = denoise(real, np.where(generated > 1, 400.0, generated))
    assert over[0, 0, 0] == 0.0  # over-prediction cannot go negative


def test_amplitude_residual_of_a_known_glitch_stays_at_noise_level():
    """With the glitch amplitude |g| known exactly, A_real - |g| is bounded by the noise |n| (the energy
    difference is not: its cross term 2 Re(n g*) grows with |g|)."""
    rng = np.random.default_rng(3)
    noise = (rng.standard_normal((200, 16, 16)) + 1j * rng.standard_normal((200, 16, 16))) / np.sqrt(2)  # E|n|^2=1
    glitch = np.zeros(noise.shape, complex)
    glitch[:, 4:8, 4:8] = 30.0 * np.exp(1j * rng.uniform(0, 2 * np.pi, (200, 4, 4)))
    real = np.abs(noise + glitch) ** 2
    floor = np.median(np.abs(noise), axis=(1, 2), keepdims=True)  # what a model of the noise floor outputs
    generated = (np.abs(glitch) + floor) ** 2
    residual = denoise(real, generated)[:, 4:8, 4:8]
    assert np.sqrt(residual).max() <= np.abs(noise).max() + 1.0
    assert np.mean(residual >= 4.5) < 0.05  # S/N 3: as rare as for noise
    energy_residual = np.clip(real - np.abs(glitch) ** 2, 0, None)[:, 4:8, 4:8]
    assert np.mean(energy_residual >= 4.5) > 0.3
