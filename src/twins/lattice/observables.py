"""Observables with Gamma-method errors, measured on an ensemble (one Markov chain, in order).

phi^4 (field phi of our convention, time direction = axis 0): magnetisation per site m = sum_x phi_x / V;
<m>, <|m|>, <phi^2>; two-point susceptibility chi_2 = sum_x G_c(x) = V (<m^2> - <m>^2) (the tutorial's chi_2 in the
same convention); connected time-slice correlator C(t) = V_s [<(1/L0) sum_tau s(tau) s(tau+t)> - <m>^2] with
s(tau) the spatial mean of time slice tau and V_s the spatial volume; effective mass
m_eff(t) = arccosh[(C(t-1) + C(t+1)) / (2 C(t))].
U(1): average plaquette <cos P>, topological charge Q per configuration (checked to be an integer),
chi_t = <Q^2> / V.
"""

from __future__ import annotations

import numpy as np

from twins.lattice.gamma import gamma_method
from twins.lattice.theories import U1

INTEGER_TOLERANCE = 1e-6


def phi4_series(configs: np.ndarray) -> dict[str, np.ndarray]:
    """Per-configuration measurements: m (n,), time-slice products (n, L0)."""
    n, l0 = configs.shape[0], configs.shape[1]
    slices = configs.reshape(n, l0, -1).mean(axis=2)
    spectrum = np.fft.rfft(slices, axis=1)
    # (1/L0) sum_tau s(tau) s(tau + t) for every t, by the periodic correlation theorem
    slice_products = np.fft.irfft(np.abs(spectrum) ** 2, n=l0, axis=1) / l0
    return {"m": slices.mean(axis=1), "slice_products": slice_products}


def measure_phi4(configs: np.ndarray) -> dict:
    """Observables of phi^4 configurations (n, *shape)."""
    volume = int(np.prod(configs.shape[1:]))
    l0 = configs.shape[1]
    spatial_volume = volume // l0
    series = phi4_series(configs)
    m = series["m"]
    out = {
        "m": gamma_method(m).as_dict(),
        "abs_m": gamma_method(np.abs(m)).as_dict(),
        "phi2": gamma_method((configs**2).reshape(configs.shape[0], -1).mean(axis=1)).as_dict(),
        "chi2": gamma_method(np.stack([m, m**2], axis=1), lambda a: volume * (a[1] - a[0] ** 2)).as_dict(),
    }
    correlator = []
    for t in range(l0):
        data = np.stack([m, series["slice_products"][:, t]], axis=1)
        correlator.append(gamma_method(data, lambda a: spatial_volume * (a[1] - a[0] ** 2)).as_dict())
    out["correlator"] = correlator

    def effective_mass(a, t=0):
        c = spatial_volume * (a[1:] - a[0] ** 2)
        ratio = (c[0] + c[2]) / (2 * c[1])
        return float(np.arccosh(ratio)) if ratio >= 1 else float("nan")

    meff = []
    for t in range(1, l0 // 2):
        cols = [series["slice_products"][:, (t + k) % l0] for k in (-1, 0, 1)]
        data = np.stack([m, *cols], axis=1)
        try:
            meff.append(gamma_method(data, effective_mass).as_dict())
        except (ValueError, FloatingPointError):
            meff.append(None)
    out["effective_mass"] = meff
    return out


def u1_series(configs: np.ndarray) -> dict[str, np.ndarray]:
    plaquette = np.cos(U1.plaquettes(configs)).mean(axis=(-2, -1))
    charge = U1.topological_charge(configs)
    off = np.abs(charge - np.round(charge)).max() if charge.size else 0.0
    if off > INTEGER_TOLERANCE:
        raise ValueError(
            f"topological charge is not an integer on every configuration (off by {off:.3g}); "
            "the links are not a periodic 2D U(1) field"
        )
    return {"plaquette": plaquette, "q": np.round(charge)}


def measure_u1(configs: np.ndarray) -> dict:
    """Observables of U(1) link configurations (n, 2, L0, L1)."""
    volume = int(np.prod(configs.shape[-2:]))
    series = u1_series(configs)
    q = series["q"]
    return {
        "plaquette": gamma_method(series["plaquette"]).as_dict(),
        "q": gamma_method(q).as_dict(),
        "chi_t": gamma_method(q**2 / volume).as_dict(),
    }


def measure(theory_name: str, configs: np.ndarray) -> dict:
    if theory_name == "phi4":
        return measure_phi4(configs)
    if theory_name == "u1":
        return measure_u1(configs)
    raise ValueError(f"no observables for theory '{theory_name}'")


def histogram_series(theory_name: str, configs: np.ndarray) -> np.ndarray:
    """The per-configuration quantity the report histograms: m for phi^4, Q for U(1)."""
    return phi4_series(configs)["m"] if theory_name == "phi4" else u1_series(configs)["q"]


# Observables compared between ensembles and with exact results (scalar ones only).
COMPARED = {"phi4": ("m", "abs_m", "phi2", "chi2"), "u1": ("plaquette", "q", "chi_t")}
