"""Cold-plasma dispersion, intra-channel smearing and scattering (frequencies in MHz, times in s)."""

from __future__ import annotations

import numpy as np

DISPERSION_CONSTANT_MS = 4.148808  # ms GHz^2 cm^3 pc^-1
SCATTERING_INDEX = -4.4             # tau ~ f^-4.4 (Kolmogorov turbulence)


def dispersion_delay(dm: float, freq_mhz: np.ndarray, ref_mhz: float) -> np.ndarray:
    """Delay (s) of `freq_mhz` relative to `ref_mhz`: 4.148808 ms * DM * (f_GHz^-2 - f_ref,GHz^-2)."""
    f = np.asarray(freq_mhz, dtype=float) / 1e3
    return DISPERSION_CONSTANT_MS * 1e-3 * dm * (f**-2 - (ref_mhz / 1e3) ** -2)


def smearing_time(dm: float, freq_mhz: np.ndarray, channel_width_mhz: float) -> np.ndarray:
    """Intra-channel dispersion smearing (s): the delay difference across one channel's width."""
    f = np.asarray(freq_mhz, dtype=float)
    half = abs(channel_width_mhz) / 2
    return dispersion_delay(dm, f - half, f + half)


def scattering_time(tau_ref_s: float, freq_mhz: np.ndarray, ref_mhz: float = 1000.0) -> np.ndarray:
    """Scattering time (s) tau(f) = tau_ref (f / f_ref)^-4.4."""
    return tau_ref_s * (np.asarray(freq_mhz, dtype=float) / ref_mhz) ** SCATTERING_INDEX


def delay_samples(dm: float, freq_mhz: np.ndarray, tsamp: float) -> np.ndarray:
    """Integer dispersion delays (samples) relative to the highest frequency in `freq_mhz`."""
    return np.rint(dispersion_delay(dm, freq_mhz, float(np.max(freq_mhz))) / tsamp).astype(int)
