"""Detector noise: the analytic Advanced-Virgo-like PSD fit and coloured Gaussian noise drawn from a PSD."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml


def load_psd_fit(path: str | Path) -> Callable[[np.ndarray], np.ndarray]:
    """The one-sided strain PSD S_h(f) [1/Hz] of the fit described in `path` (resources/virgo/asd_advirgo.yaml).

    Below f_low_hz the PSD is held at S_h(f_low) (the seismic wall is not modelled).
    """
    path = Path(path)
    try:
        fit = yaml.safe_load(path.read_text())
        f0, s0, f_low = float(fit["f0_hz"]), float(fit["s0_per_hz"]), float(fit["f_low_hz"])
        seismic, thermal, shot = (fit["terms"][k] for k in ("seismic", "thermal", "shot"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: ASD fit file not found; use resources/virgo/asd_advirgo.yaml") from None
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path}: ASD fit lacks key {err}; see resources/virgo/asd_advirgo.yaml") from None

    def psd(frequency: np.ndarray) -> np.ndarray:
        x = np.maximum(np.asarray(frequency, dtype=np.float64), f_low) / f0
        lx = np.log(x)
        a, b, c = thermal["log_poly"]
        return s0 * (
            seismic["coefficient"] * x ** seismic["power"]
            + thermal["coefficient"] * np.exp(lx**2 * (a + b * lx + c * lx**2)) * x ** thermal["power"]
            + shot["coefficient"] * np.exp(shot["log_gauss"] * lx**2) * x ** shot["power"]
        )

    return psd


def coloured_noise(
    n: int, sample_rate: float, psd: Callable[[np.ndarray], np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """(n,) stationary Gaussian noise whose one-sided PSD is psd(f) [unit^2/Hz].

    Built in the frequency domain: E|X_k|^2 = n * fs * S(f_k) / 2 for numpy's rfft convention.
    """
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    scale = np.sqrt(n * sample_rate * psd(freqs) / 4.0)  # per real/imaginary part
    spectrum = scale * (rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs)))
    spectrum[0] = 0.0  # no DC offset
    if n % 2 == 0:
        spectrum[-1] = spectrum[-1].real * np.sqrt(2.0)  # the Nyquist bin is real
    return np.fft.irfft(spectrum, n)


def band_limited_noise(
    n: int, sample_rate: float, f_low: float, f_high: float, rms: float, rng: np.random.Generator
) -> np.ndarray:
    """(n,) Gaussian noise with a flat PSD between f_low and f_high [Hz] and total standard deviation `rms`."""
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    inside = (freqs >= f_low) & (freqs <= f_high)
    spectrum = inside * (rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs)))
    series = np.fft.irfft(spectrum, n)
    return series * (rms / max(series.std(), np.finfo(float).tiny))
