"""De-noising: subtracting GlitchFlow's generated glitch from the real strain spectrogram.

De-noising subtracts in the domain GlitchFlow generates, the tile amplitude A = sqrt(E): the generated
glitch is the model's amplitude in excess of its own noise floor (the median generated amplitude of that
spectrogram), G = max(A_gen - median(A_gen), 0), and the de-noised spectrogram is A_res = max(A_real - G, 0),
stored as energy E_res = A_res^2. Subtracting only the excess keeps the noise in the residual, so de-noising
cannot look good merely by lowering the noise floor. Amplitudes rather than energies: a tile holding noise
n and glitch g has |A_real - |g|| <= |n| (triangle inequality), so a well predicted glitch leaves noise-sized
residuals, whereas E_real - |g|^2 keeps the cross term 2 Re(n g*), which grows with the glitch's loudness.
"""

from __future__ import annotations

import numpy as np

from twins.virgo.io import GeneratedSet, TFrame


def denoise(real_energy: np.ndarray, generated_energy: np.ndarray) -> np.ndarray:
    """Residual energy E_res = max(A_real - max(A_gen - median(A_gen), 0), 0)^2 with A = sqrt(E), per
    spectrogram; arrays (n, F, T) of normalised energies in and out."""
    real, generated = np.sqrt(real_energy), np.sqrt(generated_energy)
    floor = np.median(generated, axis=(1, 2), keepdims=True)
    glitch = np.clip(generated - floor, 0.0, None)
    return np.clip(real - glitch, 0.0, None) ** 2


def denoised_test_set(test: TFrame, generated_amplitude: np.ndarray) -> GeneratedSet:
    """The test set's real energies (target^2), the generated energies (generated_amplitude^2, (n, F, T)) and
    the de-noised residual energies, computed in float64, with the test set's metadata, axes and inputs."""
    real_energy = test.target.astype(np.float64) ** 2
    generated_energy = generated_amplitude.astype(np.float64) ** 2
    return GeneratedSet(
        real_energy,
        generated_energy,
        denoise(real_energy, generated_energy),
        test.meta,
        test.strain_frequencies,
        test.aux_frequencies,
        test.time_offsets,
        test.channels,
        test.inputs,
    )
