"""Validation maths of the lattice twin (no file I/O): NF-MCMC against HMC and exact finite-volume results.

Pulls are differences over the combined Gamma-method error; the cost per effectively independent
configuration uses N_eff = N / (2 tau_int) (Wolff's tau_int, 1/2 for independent draws), with the largest
tau_int of the compared observables.
"""

from __future__ import annotations

import math

import numpy as np

from twins.lattice.exact import free_field, u1_exact
from twins.lattice.observables import COMPARED
from twins.lattice.theories import make_theory


def exact_values(spec: dict) -> dict[str, float]:
    """Exact finite-volume values where they exist (free phi^4, 2D U(1)); {} otherwise."""
    theory = make_theory(spec["theory"], spec["shape"], spec["couplings"])
    if theory.name == "u1":
        exact = u1_exact(theory.beta, theory.volume)
        return {"plaquette": exact["plaquette"], "chi_t": exact["chi_t"], "q": 0.0}
    if theory.lam == 0:
        return {**free_field(theory.shape, theory.m2), "m": 0.0}
    return {"m": 0.0}  # Z2 symmetry: exact on any finite lattice


def pull(a: dict, b: dict | float) -> float:
    """(a - b) / combined error; b an exact number (no error) or another {value, error}."""
    b_value, b_error = (b, 0.0) if isinstance(b, (int, float)) else (b["value"], b["error"])
    err = math.hypot(a["error"], b_error)
    return (a["value"] - b_value) / err if err > 0 else float("nan")


def cost_per_independent(seconds: float, n: int, tau_int: float) -> float:
    """Seconds per effectively independent configuration, N_eff = N / (2 tau_int) (Wolff's tau)."""
    return seconds * 2 * tau_int / n


def compare_observables(theory_name: str, hmc_obs: dict, nf_obs: dict, exact: dict[str, float]) -> list[dict]:
    """One row per compared observable: HMC and NF-MCMC {value, error, tau_int, ...}, their pull, and the exact
    value with both pulls against it where it exists."""
    rows = []
    for name in COMPARED[theory_name]:
        row = {
            "observable": name,
            "hmc": hmc_obs[name],
            "nfmcmc": nf_obs[name],
            "pull_nf_hmc": pull(nf_obs[name], hmc_obs[name]),
        }
        if name in exact:
            row.update(
                exact=exact[name],
                pull_hmc_exact=pull(hmc_obs[name], exact[name]),
                pull_nf_exact=pull(nf_obs[name], exact[name]),
            )
        rows.append(row)
    return rows


def validation_summary(
    ensemble: str,
    spec: dict,
    chains: dict[str, dict],
    simulate_timing: dict,
    generate_timing: dict,
    nf_histogram: np.ndarray,
) -> dict:
    """The summary of one ensemble: acceptance, ESS, tau_int, seconds and cost per independent configuration.

    chains: {"hmc": ..., "nf": ...}, each {"observables": measure(...) of the chain, "n": its length};
    simulate_timing, generate_timing: the JSON records of lattice_simulate and lattice_generate;
    nf_histogram: the NF-MCMC series of m (phi^4) or Q (U(1)), (n,), for the mode-collapse check.
    """
    sim, gen = simulate_timing, generate_timing
    tau_hmc = max(chains["hmc"]["observables"][n]["tau_int"] for n in COMPARED[spec["theory"]])
    tau_nf = max(chains["nf"]["observables"][n]["tau_int"] for n in COMPARED[spec["theory"]])
    hmc_seconds = sim["seconds_thermalisation"] + sim["seconds_production"]
    nf_seconds = gen["seconds_training"] + gen["seconds_generation"]
    n_hmc, n_nf = chains["hmc"]["n"], chains["nf"]["n"]
    summary = {
        "ensemble": ensemble,
        "theory": spec["theory"],
        "shape": list(spec["shape"]),
        "couplings": dict(spec["couplings"]),
        "hmc_acceptance": sim["acceptance"],
        "creutz": sim["creutz"],
        "nf_acceptance": gen["acceptance"],
        "nf_ess": gen["ess"],
        "tau_int_hmc": tau_hmc,
        "tau_int_nf": tau_nf,
        "seconds_hmc": hmc_seconds,
        "seconds_nf_training": gen["seconds_training"],
        "seconds_nf_generation": gen["seconds_generation"],
        "cost_hmc": cost_per_independent(hmc_seconds, n_hmc, tau_hmc),
        "cost_nf": cost_per_independent(nf_seconds, n_nf, tau_nf),
        "cost_nf_without_training": cost_per_independent(gen["seconds_generation"], n_nf, tau_nf),
        # mode collapse check: a flow stuck in one vacuum gives a one-signed magnetisation / charge
        "nf_fraction_positive": float(np.mean(nf_histogram > 0)),
        "nf_fraction_negative": float(np.mean(nf_histogram < 0)),
    }
    if spec["theory"] == "u1":
        summary["q_integer"] = True  # observables.measure raises otherwise
    return summary
