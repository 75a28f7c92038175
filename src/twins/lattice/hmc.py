"""Hybrid Monte Carlo for any theory with `action`, `force` and `field_shape` (twins.lattice.theories).

Unit-mass momenta, H = p^2 / 2 + S. Integrators: leapfrog (kick-drift-kick) and Omelyan's second-order
minimum-norm scheme (2MN, lambda = 0.1932), both time-reversible and area-preserving. The step size is
tuned during thermalisation (Robbins-Monro on log eps towards the target acceptance) at fixed trajectory
length, then frozen, so the production chain is an exact Markov chain.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from twins.core.config import resolve

log = logging.getLogger(__name__)

SETTINGS_KEY = "lattice.ensembles.<ensemble>.hmc"

OMELYAN_LAMBDA = 0.1931833275037836
INTEGRATORS = ("leapfrog", "omelyan")


def leapfrog(theory, x: np.ndarray, p: np.ndarray, eps: float, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """n_steps leapfrog steps of size eps from (x, p); returns the new (x, p), inputs untouched."""
    p = p - 0.5 * eps * theory.force(x)
    for step in range(n_steps):
        x = x + eps * p
        p = p - (eps if step < n_steps - 1 else 0.5 * eps) * theory.force(x)
    return x, p


def omelyan(theory, x: np.ndarray, p: np.ndarray, eps: float, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """n_steps Omelyan 2MN steps (force evaluations merged between steps)."""
    lam = OMELYAN_LAMBDA
    p = p - lam * eps * theory.force(x)
    for step in range(n_steps):
        x = x + 0.5 * eps * p
        p = p - (1 - 2 * lam) * eps * theory.force(x)
        x = x + 0.5 * eps * p
        p = p - (lam if step == n_steps - 1 else 2 * lam) * eps * theory.force(x)
    return x, p


def integrate(name: str, theory, x, p, eps, n_steps):
    if name == "leapfrog":
        return leapfrog(theory, x, p, eps, n_steps)
    if name == "omelyan":
        return omelyan(theory, x, p, eps, n_steps)
    raise ValueError(f"hmc integrator '{name}' unknown; use one of {INTEGRATORS}")


def hamiltonian(theory, x: np.ndarray, p: np.ndarray) -> float:
    return float(0.5 * np.sum(p * p) + theory.action(x))


def trajectory(theory, x, rng: np.random.Generator, integrator: str, eps: float, n_steps: int):
    """One HMC trajectory with Metropolis test; returns (new x, accepted, delta_H)."""
    p = rng.standard_normal(x.shape)
    h0 = hamiltonian(theory, x, p)
    x_new, p_new = integrate(integrator, theory, x, p, eps, n_steps)
    delta_h = hamiltonian(theory, x_new, p_new) - h0
    accepted = bool(rng.random() < math.exp(min(0.0, -delta_h))) if math.isfinite(delta_h) else False
    return (x_new if accepted else x), accepted, delta_h


@dataclass
class HMCChain:
    """A production chain: configs (n, *field_shape), their trajectory numbers, per-trajectory records."""

    configs: np.ndarray
    trajectory: np.ndarray
    accepted: np.ndarray  # every production trajectory, not only the kept ones
    delta_h: np.ndarray
    step_size: float
    n_steps: int
    seconds_thermalisation: float
    seconds_production: float

    @property
    def acceptance(self) -> float:
        return float(self.accepted.mean())


def run_hmc(theory, settings: dict, rng: np.random.Generator, start: np.ndarray | None = None) -> HMCChain:
    """Thermalise (tuning eps) and produce settings['n_configs'] configurations every `thinning` trajectories.

    settings: integrator, trajectory_length, target_acceptance, initial_step_size, thermalisation,
    n_configs, thinning (lattice.ensembles.<ensemble>.hmc; missing keys take the schema's defaults).
    """
    settings = resolve(SETTINGS_KEY, settings)
    tau = float(settings["trajectory_length"])
    target = float(settings["target_acceptance"])
    integrator = settings["integrator"]
    x = np.zeros(theory.field_shape()) if start is None else np.array(start, dtype=np.float64)
    log_eps = math.log(float(settings["initial_step_size"]))
    started = time.perf_counter()
    for it in range(int(settings["thermalisation"])):
        n_steps = max(1, round(tau / math.exp(log_eps)))
        x, _, delta_h = trajectory(theory, x, rng, integrator, tau / n_steps, n_steps)
        prob = math.exp(min(0.0, -delta_h)) if math.isfinite(delta_h) else 0.0
        log_eps += (prob - target) / (it + 10) ** 0.6  # decreasing gain: converges, then frozen
    n_steps = max(1, round(tau / math.exp(log_eps)))
    eps = tau / n_steps
    thermal_seconds = time.perf_counter() - started
    log.info("thermalised: %s with eps=%.4g, %d steps per trajectory", integrator, eps, n_steps)

    n_configs, thinning = int(settings["n_configs"]), int(settings["thinning"])
    configs = np.empty((n_configs, *theory.field_shape()))
    accepted = np.empty(n_configs * thinning, dtype=bool)
    delta_hs = np.empty(n_configs * thinning)
    started = time.perf_counter()
    for i in range(n_configs * thinning):
        x, accepted[i], delta_hs[i] = trajectory(theory, x, rng, integrator, eps, n_steps)
        if (i + 1) % thinning == 0:
            configs[(i + 1) // thinning - 1] = x
    chain = HMCChain(
        configs=configs,
        trajectory=np.arange(1, n_configs + 1) * thinning,
        accepted=accepted,
        delta_h=delta_hs,
        step_size=eps,
        n_steps=n_steps,
        seconds_thermalisation=thermal_seconds,
        seconds_production=time.perf_counter() - started,
    )
    log.info("production: %d configs, acceptance %.3f", n_configs, chain.acceptance)
    return chain
