"""De-noising: subtracting the generated glitch in tile amplitude."""

import numpy as np
import pytest

from twins.virgo.denoising import denoise


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
