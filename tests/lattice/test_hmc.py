"""HMC: reversibility, Delta H scaling with the step size, Creutz's equality, free field and U(1) vs exact."""

import numpy as np
import pytest

from twins.lattice.exact import free_field, u1_exact
from twins.lattice.hmc import hamiltonian, integrate, run_hmc
from twins.lattice.observables import measure
from twins.lattice.theories import U1, Phi4

PHI4 = Phi4((6, 6), m2=-4.0, lam=8.0)
SETTINGS = dict(
    integrator="omelyan",
    trajectory_length=1.0,
    target_acceptance=0.85,
    initial_step_size=0.2,
    thermalisation=200,
    n_configs=3000,
    thinning=1,
)


@pytest.mark.parametrize("integrator", ["leapfrog", "omelyan"])
@pytest.mark.parametrize("theory", [PHI4, U1((4, 4), 1.5)], ids=["phi4", "u1"])
def test_integrators_are_reversible(integrator, theory):
    rng = np.random.default_rng(0)
    x = 0.5 * rng.normal(size=theory.field_shape())
    p = rng.normal(size=x.shape)
    x1, p1 = integrate(integrator, theory, x, p, 0.05, 20)
    x2, p2 = integrate(integrator, theory, x1, -p1, 0.05, 20)
    np.testing.assert_allclose(x2, x, atol=1e-10)
    np.testing.assert_allclose(-p2, p, atol=1e-10)
    assert not np.allclose(x1, x)


@pytest.mark.parametrize("integrator,coarse", [("leapfrog", 12), ("omelyan", 12)])
def test_delta_h_scales_as_step_size_to_the_fourth(integrator, coarse):
    """At fixed trajectory length a second-order integrator has <dH^2> ~ eps^4 and <dH> ~ eps^4 > 0 in
    equilibrium (same configs and momenta for both step sizes, so the ratio is not drowned in noise)."""
    rng = np.random.default_rng(1)
    chain = run_hmc(PHI4, {**SETTINGS, "n_configs": 100, "thinning": 5}, rng)
    momenta = rng.normal(size=(len(chain.configs), 4, *PHI4.shape))
    dh = {}
    for n_steps in (coarse, 2 * coarse):
        dh[n_steps] = np.array(
            [
                hamiltonian(PHI4, *integrate(integrator, PHI4, x, p, 1.0 / n_steps, n_steps)) - hamiltonian(PHI4, x, p)
                for x, ps in zip(chain.configs, momenta)
                for p in ps
            ]
        )
    ratio = np.mean(dh[coarse] ** 2) / np.mean(dh[2 * coarse] ** 2)
    assert 11 < ratio < 23, f"<dH^2> ratio for eps halved is {ratio:.2f}, expected about 16"
    mean, err = dh[coarse].mean(), dh[coarse].std() / np.sqrt(dh[coarse].size)
    assert abs(mean - 0.5 * np.mean(dh[coarse] ** 2)) < 4 * err  # <dH> = <dH^2>/2 + O(eps^8)


def test_creutz_equality_and_acceptance_tuning():
    chain = run_hmc(PHI4, SETTINGS, np.random.default_rng(2))
    w = np.exp(-chain.delta_h)
    assert abs(w.mean() - 1) < 4 * w.std() / np.sqrt(w.size)
    assert 0.7 < chain.acceptance < 0.97


def test_free_field_hmc_matches_exact():
    theory = Phi4((6, 4), m2=0.5, lam=0.0)
    chain = run_hmc(theory, {**SETTINGS, "n_configs": 4000}, np.random.default_rng(3))
    obs = measure("phi4", chain.configs)
    exact = free_field(theory.shape, theory.m2)
    for name in ("phi2", "chi2"):
        assert abs(obs[name]["value"] - exact[name]) < 3.5 * obs[name]["error"], name


def test_u1_hmc_matches_exact_character_expansion():
    theory = U1((4, 4), 1.0)
    chain = run_hmc(theory, {**SETTINGS, "n_configs": 4000}, np.random.default_rng(4))
    obs = measure("u1", chain.configs)
    exact = u1_exact(1.0, 16)
    for name in ("plaquette", "chi_t"):
        assert abs(obs[name]["value"] - exact[name]) < 3.5 * obs[name]["error"], name


def test_bad_hmc_settings_are_named():
    with pytest.raises(ValueError, match="integrator"):
        run_hmc(PHI4, {**SETTINGS, "integrator": "rk4", "thermalisation": 1}, np.random.default_rng(0))
    with pytest.raises(ValueError, match="target_acceptance"):
        run_hmc(PHI4, {**SETTINGS, "target_acceptance": 1.0, "thermalisation": 1}, np.random.default_rng(0))


def test_missing_hmc_settings_take_the_schema_defaults():
    """A library caller gets the workflow's defaults (omelyan, thinning 1, ...) from the schema."""
    theory = Phi4((4, 4), m2=-4.0, lam=8.0)
    chain = run_hmc(theory, {"thermalisation": 5, "n_configs": 10}, np.random.default_rng(0))
    assert chain.configs.shape == (10, 4, 4) and list(chain.trajectory) == list(range(1, 11))
