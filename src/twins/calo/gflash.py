"""The GFlash parameterisation of electromagnetic showers (Grindhammer & Peters).

References: G. Grindhammer and S. Peters, "The parameterized simulation of electromagnetic showers
in homogeneous and sampling calorimeters", arXiv:hep-ex/0001020; the constants are those of the
Geant4 GFlash tuning classes (GVFlashHomoShowerTuning, GFlashSamplingShowerTuning).

Conventions: energies in GeV, depths t in radiation lengths X0 measured from the shower start,
radii in Moliere radii R_M. Every function takes arrays of showers (N,) or of spots (S,) and
broadcasts; nothing here knows about cells.

Longitudinal profile of one shower: (1/E) dE/dt = Gamma(t; alpha, beta) with
    T = (alpha - 1) / beta                       depth of the shower maximum
    <ln T>     = ln(ln y - 0.812)                y = E / E_c
    <ln alpha> = ln(0.81 + (0.458 + 2.26/Z) ln y)
    sigma(ln T)     = 1 / (-1.4 + 1.26 ln y)
    sigma(ln alpha) = 1 / (-0.58 + 0.86 ln y)
    rho(ln T, ln alpha) = 0.705 - 0.023 ln y
Energy is carried by "spots" whose number per shower is N_spot = 93 ln(Z) E^0.876 (homogeneous)
and whose depths follow a gamma profile with T_spot = T (0.698 + 0.00212 Z),
alpha_spot = alpha (0.639 + 0.00334 Z). Radial profile of the spots at depth tau = t / T:
    f(r) = p 2 r R_C^2 / (r^2 + R_C^2)^2 + (1 - p) 2 r R_T^2 / (r^2 + R_T^2)^2.

Sampling calorimeters are described by their effective medium (Z, X0, R_M, E_c of the mixture)
with the homogeneous profiles; what changes is the spot count (10.3/a E^0.959), the spot profile
constants and the sampling fluctuations, applied spot by spot (`sampling_fluctuation`). The
paper's further corrections of <T>, <alpha> and the radii in terms of the sampling frequency F_s
and e/mip (about -0.2 to -0.4 X0 on T) need the layer structure, which CaloGeometry does not
carry, so they are not applied.
"""

from __future__ import annotations

import numpy as np

from twins.calo.geometry import Material

# Longitudinal profile, homogeneous media (GVFlashHomoShowerTuning).
T1 = -0.812  # <ln T> = ln(ln y + T1)
A1, A2, A3 = 0.81, 0.458, 2.26  # <alpha> = A1 + (A2 + A3 / Z) ln y
SIG_LOG_T = (-1.4, 1.26)  # sigma(ln T) = 1 / (s1 + s2 ln y)
SIG_LOG_ALPHA = (-0.58, 0.86)  # sigma(ln alpha) = 1 / (s1 + s2 ln y)
RHO = (0.705, -0.023)  # rho = r1 + r2 ln y
# Spots: homogeneous and sampling (GFlashSamplingShowerTuning).
SPOT_N_HOMO = (93.0, 0.876)  # N = n1 ln(Z) E^n2
SPOT_N_SAMPLING = (10.3, 0.959)  # N = n1 / a E^n2, a = sampling term of the resolution
SPOT_T_HOMO = (0.698, 0.00212)  # T_spot = T (t1 + t2 Z)
SPOT_ALPHA_HOMO = (0.639, 0.00334)  # alpha_spot = alpha (a1 + a2 Z)
SPOT_T_SAMPLING = (0.813, 0.0019)
SPOT_ALPHA_SAMPLING = (0.844, 0.0026)
# Radial profile.
RC = (0.0251, 0.00319, 0.1162, -0.000381)  # R_C = (c1 + c2 ln E) + (c3 + c4 Z) tau
RT = (0.659, -0.00309, 0.645, -2.59, 0.3585, 0.0412)  # R_T = k1 (exp(k3 (tau - k2)) + exp(k4 (tau - k2)))
WC = (2.632, -0.00094, 0.401, 0.00187, 1.313, -0.0686)  # p = p1 exp((p2 - tau)/p3 - exp((p2 - tau)/p3))
PHOTON_CONVERSION_X0 = 9.0 / 7.0  # mean free path of a high-energy photon, in X0

# Below this E / E_c the fitted sigmas diverge (the paper fits 1-100 GeV in Fe, Pb, ...).
MIN_Y = 50.0


def log_y(energy_gev: np.ndarray, material: Material) -> np.ndarray:
    """ln(E / E_c) for energies in GeV; raises if E is below the parameterisation's range."""
    y = np.asarray(energy_gev, dtype=np.float64) * 1e3 / material.critical_energy_mev
    if np.any(~(y >= MIN_Y)):
        e_min = MIN_Y * material.critical_energy_mev * 1e-3
        raise ValueError(
            f"GFlash needs E >= {MIN_Y:g} E_c = {e_min:.3g} GeV in {material.name} "
            f"(E_c = {material.critical_energy_mev} MeV); got E = {np.min(energy_gev):.3g} GeV. "
            "Raise calo.simulate.energy_gev"
        )
    return np.log(y)


def longitudinal_parameters(
    energy_gev: np.ndarray, material: Material
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Means, widths and correlation of (ln T, ln alpha) for showers of `energy_gev` (N,).

    Returns (mean_log_tmax, sigma_log_tmax, mean_log_alpha, sigma_log_alpha, rho), each (N,).
    T is in X0.
    """
    ly = log_y(energy_gev, material)
    mean_log_tmax = np.log(ly + T1)
    mean_log_alpha = np.log(A1 + (A2 + A3 / material.z_eff) * ly)
    sigma_log_tmax = 1.0 / (SIG_LOG_T[0] + SIG_LOG_T[1] * ly)
    sigma_log_alpha = 1.0 / (SIG_LOG_ALPHA[0] + SIG_LOG_ALPHA[1] * ly)
    rho = RHO[0] + RHO[1] * ly
    return mean_log_tmax, sigma_log_tmax, mean_log_alpha, sigma_log_alpha, rho


def sample_longitudinal_profiles(
    energy_gev: np.ndarray, material: Material, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw each shower's (T, alpha): ln T and ln alpha Gaussian with correlation rho.

    Returns (tmax_x0, alpha), each (N,); beta = (alpha - 1) / T.
    """
    mu_t, sig_t, mu_a, sig_a, rho = longitudinal_parameters(energy_gev, material)
    z1 = rng.standard_normal(mu_t.shape)
    z2 = rng.standard_normal(mu_t.shape)
    c1 = np.sqrt((1.0 + rho) / 2.0)
    c2 = np.sqrt((1.0 - rho) / 2.0)
    # Var = sigma^2 (c1^2 + c2^2) = sigma^2, Cov = sig_t sig_a (c1^2 - c2^2) = rho sig_t sig_a
    tmax = np.exp(mu_t + sig_t * (c1 * z1 + c2 * z2))
    alpha = np.exp(mu_a + sig_a * (c1 * z1 - c2 * z2))
    alpha = np.maximum(alpha, 1.1)  # a profile needs alpha > 1 to have a maximum (as Geant4 does)
    return tmax, alpha


def spot_profiles(
    tmax_x0: np.ndarray, alpha: np.ndarray, material: Material, sampling: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Longitudinal profile of the number of spots: (T_spot, alpha_spot), each (N,)."""
    (t1, t2), (a1, a2) = (SPOT_T_SAMPLING, SPOT_ALPHA_SAMPLING) if sampling else (SPOT_T_HOMO, SPOT_ALPHA_HOMO)
    tmax_spot = tmax_x0 * (t1 + t2 * material.z_eff)
    alpha_spot = np.maximum(alpha * (a1 + a2 * material.z_eff), 1.1)
    return tmax_spot, alpha_spot


def spot_count(energy_gev: np.ndarray, material: Material, sampling_term: float | None = None) -> np.ndarray:
    """Number of energy spots per shower (N,) int64.

    Homogeneous: 93 ln(Z) E^0.876. Sampling calorimeter (sampling_term = a of a/sqrt(E)):
    10.3 / a * E^0.959, so that spot-to-spot fluctuations carry the sampling fluctuations.
    """
    e = np.asarray(energy_gev, dtype=np.float64)
    if sampling_term is None:
        n = SPOT_N_HOMO[0] * np.log(material.z_eff) * e ** SPOT_N_HOMO[1]
    else:
        if sampling_term <= 0:
            raise ValueError(f"sampling_term must be > 0 for a sampling calorimeter, got {sampling_term}")
        n = SPOT_N_SAMPLING[0] / sampling_term * e ** SPOT_N_SAMPLING[1]
    return np.maximum(np.rint(n), 1).astype(np.int64)


def shower_tau(t_x0: np.ndarray, tmax_x0: np.ndarray, alpha: np.ndarray, mean_log_alpha: np.ndarray) -> np.ndarray:
    """Depth in units of the shower maximum used by the radial profile (Geant4 GFlash convention):
    t / <t>_shower, rescaled by <t>/T of the average profile, so that tau = 1 near the maximum."""
    alpha_mean = np.exp(mean_log_alpha)
    return t_x0 / tmax_x0 * (alpha - 1.0) / alpha * alpha_mean / (alpha_mean - 1.0)


def radial_parameters(
    energy_gev: np.ndarray, tau: np.ndarray, z_eff: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Core radius R_C, tail radius R_T (both in R_M) and core weight p at depth tau (broadcast;
    float32 inputs give float32 outputs)."""
    log_e = np.log(np.asarray(energy_gev))
    core_radius = (RC[0] + RC[1] * log_e) + (RC[2] + RC[3] * z_eff) * tau
    k1 = RT[0] + RT[1] * z_eff
    k2, k3 = RT[2], RT[3]
    k4 = RT[4] + RT[5] * log_e
    tail_radius = k1 * (np.exp(k3 * (tau - k2)) + np.exp(k4 * (tau - k2)))
    p1 = WC[0] + WC[1] * z_eff
    p2 = WC[2] + WC[3] * z_eff
    p3 = WC[4] + WC[5] * log_e
    x = (p2 - tau) / p3
    core_weight = np.clip(p1 * np.exp(x - np.exp(x)), 0.0, 1.0)
    return core_radius, tail_radius, core_weight


def sample_radius(
    core_radius: np.ndarray, tail_radius: np.ndarray, core_weight: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draw spot radii (in R_M) from the two-component radial profile, by inverting
    F(r) = r^2 / (r^2 + R^2) of the component chosen with probability p (core) or 1 - p (tail)."""
    shape = np.broadcast(core_radius, tail_radius, core_weight).shape
    dtype = np.float32 if np.result_type(core_radius, tail_radius) == np.float32 else np.float64
    u_choice = rng.random(shape, dtype=dtype)
    u = rng.random(shape, dtype=dtype)
    radius = np.where(u_choice < core_weight, core_radius, tail_radius)
    return radius * np.sqrt(u / (1.0 - u))


def photon_conversion_depth(n: int, rng: np.random.Generator) -> np.ndarray:
    """Depth (X0) at which photons convert: exponential with mean 9/7 X0, (n,)."""
    return rng.exponential(PHOTON_CONVERSION_X0, size=n)


def sampling_fluctuation(spot_energy_gev: np.ndarray, stochastic_term: float, rng: np.random.Generator) -> np.ndarray:
    """Fluctuate spot energies so that a shower's sum has sigma/E = stochastic_term / sqrt(E[GeV]).

    Each spot energy e becomes Gamma(shape = e / a^2, scale = a^2): mean e, variance a^2 e. Sums of
    such gammas are gamma with the summed shape, so the total of a shower of energy E is exactly
    Gamma(E / a^2, a^2) with relative width a / sqrt(E), whatever the number of spots (the GFlash
    treatment of sampling fluctuations, applied spot by spot so they are local, as in a real
    sampling calorimeter).
    """
    if stochastic_term <= 0:
        return np.asarray(spot_energy_gev, dtype=np.float64)
    var_per_gev = stochastic_term**2
    return rng.gamma(np.asarray(spot_energy_gev) / var_per_gev, var_per_gev)
