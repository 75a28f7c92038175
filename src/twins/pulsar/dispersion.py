"""Cold-plasma dispersion, intra-channel smearing and scattering (frequencies in MHz, times in s)."""

from __future__ import annotations

import numpy as np

DISPERSION_CONSTANT_MS = 4.148808  # ms GHz^2 cm^3 pc^-1
SCATTERING_INDEX = -4.4  # tau ~ f^-4.4 (Kolmogorov turbulence)


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


def dm_trial_grid(
    f_top_mhz: float,
    channel_width_mhz: float,
    nchans: int,
    tsamp_s: float,
    dm_max: float,
    pulse_width_s: float = 0.0,
    tolerance: float = 1.25,
    dm_min: float = 0.0,
) -> np.ndarray:
    """DM trials (pc cm^-3) from `dm_min` to past `dm_max`, spaced as dedisp and heimdall space them.

    Each step is the largest for which the smearing of a pulse searched at the trial midway, added in
    quadrature to the sampling time, the pulse width and the intra-channel smearing at the previous
    trial, stays within `tolerance` times the latter (Cordes & McLaughlin 2003; Barsdell et al.
    2012): steps grow with DM as intra-channel smearing comes to dominate. The band is `nchans`
    channels of `channel_width_mhz` (sign ignored) from the top channel centre `f_top_mhz` down.
    """
    if tolerance <= 1 or tsamp_s <= 0 or nchans < 1 or dm_max <= dm_min:
        raise ValueError(
            f"dm_trial_grid: needs tolerance > 1 (got {tolerance}), tsamp_s > 0 (got {tsamp_s}), "
            f"nchans >= 1 (got {nchans}) and dm_max > dm_min (got {dm_max} <= {dm_min})"
        )
    width = abs(channel_width_mhz)
    f_centre_ghz = (f_top_mhz - (nchans / 2 - 0.5) * width) / 1e3
    # smearing per unit DM (us) of one channel (8.3 us = 2 * 4.148808 ms * 1 MHz / 1 GHz^3, the channel's
    # delay difference) and of a quarter of the band (the error of a trial half a step off, dedisp's b)
    a2 = (8.3 * width / f_centre_ghz**3) ** 2
    b2 = a2 * nchans**2 / 16.0
    c = ((tsamp_s * 1e6) ** 2 + (pulse_width_s * 1e6) ** 2) * (tolerance**2 - 1)
    dms = [float(dm_min)]
    while dms[-1] < dm_max:
        prev = dms[-1]
        k = c + tolerance**2 * a2 * prev**2
        dms.append((b2 * prev + np.sqrt(-a2 * b2 * prev**2 + (a2 + b2) * k)) / (a2 + b2))
    return np.asarray(dms)


def header_frequencies(header: dict) -> np.ndarray:
    """Channel centre frequencies (nchans,) MHz of a SIGPROC header, in the file's channel order."""
    return float(header["fch1"]) + float(header["foff"]) * np.arange(int(header["nchans"]))


def band_sweep(dm: float, f_top_mhz: float, channel_width_mhz: float, nchans: int) -> float:
    """Dispersion delay (s) between the top and the bottom channel centres at `dm`."""
    f_bottom = f_top_mhz - abs(channel_width_mhz) * (nchans - 1)
    return float(dispersion_delay(dm, np.array([f_bottom]), f_top_mhz)[0])


def sweep_samples(dm: np.ndarray, header: dict) -> np.ndarray:
    """Dispersion delay (samples) across the whole band of `header` at each DM."""
    freqs = header_frequencies(header)
    delay = band_sweep(1.0, float(freqs.max()), float(header["foff"]), int(header["nchans"]))
    return np.ceil(np.asarray(dm, dtype=float) * delay / float(header["tsamp"])).astype(int)
