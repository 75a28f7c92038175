"""Actions, forces, coupling conversions and the topological charge."""

import numpy as np
import pytest

from twins.lattice.theories import (
    U1,
    Phi4,
    make_theory,
    phi4_from_canonical,
    phi4_from_hopping,
    phi4_to_canonical,
    phi4_to_hopping,
)


def numerical_gradient(f, x, h=1e-6):
    grad = np.empty_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = h
        grad[i] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


@pytest.mark.parametrize("shape", [(6,), (4, 4), (3, 4, 2)])
def test_phi4_force_is_the_action_gradient(shape):
    theory = Phi4(shape, m2=-1.3, lam=0.7)
    phi = np.random.default_rng(0).normal(size=shape)
    np.testing.assert_allclose(theory.force(phi), numerical_gradient(theory.action, phi), rtol=1e-5, atol=1e-6)


def test_u1_force_is_the_action_gradient():
    theory = U1((4, 3), beta=1.7)
    theta = np.random.default_rng(1).uniform(-np.pi, np.pi, (2, 4, 3))
    np.testing.assert_allclose(theory.force(theta), numerical_gradient(theory.action, theta), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_hopping_form_gives_the_same_action_up_to_a_constant(d):
    kappa, lam_h = 0.21, 0.37
    m2, lam = phi4_from_hopping(kappa, lam_h, d)
    np.testing.assert_allclose(phi4_to_hopping(m2, lam, d), (kappa, lam_h))
    shape = (4,) * d
    theory = Phi4(shape, m2, lam)
    rng = np.random.default_rng(d)
    for _ in range(3):
        u = rng.normal(size=shape)
        hopping = sum(-2 * kappa * u * np.roll(u, -1, axis=a) for a in range(d)) + u**2 + lam_h * (u**2 - 1) ** 2
        constant = lam_h * u.size
        np.testing.assert_allclose(theory.action(np.sqrt(kappa) * u), hopping.sum() - constant, rtol=1e-10)


def test_canonical_form_gives_the_same_action():
    m0_sq, g = 0.5, 3.0
    m2, lam = phi4_from_canonical(m0_sq, g)
    assert phi4_to_canonical(m2, lam) == (m0_sq, g)
    chi = np.random.default_rng(3).normal(size=(5, 4))
    canonical = (
        sum(0.5 * (np.roll(chi, -1, axis=a) - chi) ** 2 for a in range(2)) + 0.5 * m0_sq * chi**2 + g / 24 * chi**4
    )
    np.testing.assert_allclose(Phi4((5, 4), m2, lam).action(chi / np.sqrt(2)), canonical.sum(), rtol=1e-10)


def test_albergo_point_is_kappa_quarter_in_hopping_form():
    kappa, lam_h = phi4_to_hopping(-4.0, 8.0, 2)
    assert kappa == pytest.approx(0.25) and lam_h == pytest.approx(0.5)
    theory = make_theory("phi4", [8, 8], {"form": "hopping", "kappa": 0.25, "lam": 0.5})
    assert theory.m2 == pytest.approx(-4.0) and theory.lam == pytest.approx(8.0)


def test_topological_charge_is_integer_and_action_gauge_invariant():
    rng = np.random.default_rng(4)
    theory = U1((6, 6), beta=2.0)
    theta = rng.uniform(-np.pi, np.pi, (20, 2, 6, 6))
    q = U1.topological_charge(theta)
    np.testing.assert_allclose(q, np.round(q), atol=1e-9)
    assert np.any(q != 0)
    alpha = rng.uniform(-np.pi, np.pi, (20, 6, 6))  # gauge transformation theta_mu(x) + a(x) - a(x + mu)
    gauge = theta + np.stack([alpha - np.roll(alpha, -1, axis=-2), alpha - np.roll(alpha, -1, axis=-1)], axis=1)
    np.testing.assert_allclose(theory.action(gauge), theory.action(theta), rtol=1e-10)
    np.testing.assert_allclose(U1.topological_charge(gauge), q, atol=1e-9)


@pytest.mark.parametrize(
    "theory,shape,couplings,match",
    [
        ("phi4", [8, 8], {"form": "hopping", "lam": 0.5}, "missing"),
        # the schema's checks, through twins.core.config.resolve: the key, the value and what is allowed
        ("phi4", [8, 8], {"form": "lattice", "m2": 1}, r"couplings\.form': 'lattice' is not one of"),
        ("u1", [4, 4, 4], {"beta": 1.0}, "2D only"),
        ("xy", [4, 4], {}, r"theory': 'xy' is not one of"),
        ("phi4", [1, 8], {"m2": 1, "lam": 1}, r"shape\.0': 1 is less than the minimum of 2"),
        ("phi4", [8, 8], {"m2": 1, "lam": -1}, r"couplings\.lam': -1 is less than the minimum of 0"),
    ],
)
def test_bad_theory_settings_name_the_problem(theory, shape, couplings, match):
    with pytest.raises(ValueError, match=match):
        make_theory(theory, shape, couplings)
