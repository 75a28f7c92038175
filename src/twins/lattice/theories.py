"""Lattice actions, their forces and coupling conventions.

phi^4 (any d >= 1, periodic hypercubic lattice, field `phi` of shape `shape`), our convention is the one
of Albergo et al. (arXiv:2101.08176), with m2 and lam as its couplings:

    S[phi] = sum_x [ sum_mu (phi_{x+mu} - phi_x)^2 + m2 phi_x^2 + lam phi_x^4 ]
           = sum_x [ -2 sum_mu phi_x phi_{x+mu} + (2d + m2) phi_x^2 + lam phi_x^4 ].

Conversions (tested numerically in tests/lattice/test_theories.py):
- hopping form, S = sum_x [ -2 kappa sum_mu u_x u_{x+mu} + u_x^2 + lam_h (u_x^2 - 1)^2 ], with
  phi = sqrt(kappa) u:  m2 = (1 - 2 lam_h) / kappa - 2d,  lam = lam_h / kappa^2  (up to the constant lam_h V);
- canonical form, S = sum_x [ 1/2 sum_mu (chi_{x+mu} - chi_x)^2 + 1/2 m0^2 chi^2 + g/4! chi^4 ], with
  phi = chi / sqrt(2):  m2 = m0^2,  lam = g / 6.

U(1) in 2D: links theta of shape (2, L0, L1), angles in radians, theta[mu, x] on the link x -> x + mu;
plaquette P(x) = theta_0(x) + theta_1(x + 0) - theta_0(x + 1) - theta_1(x); Wilson action
S = -beta sum_x cos P(x); topological charge Q = sum_x wrap(P(x)) / (2 pi), wrap into [-pi, pi).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twins.core.config import resolve


def phi4_from_hopping(kappa: float, lam_h: float, d: int) -> tuple[float, float]:
    """(m2, lam) of our convention from the hopping form (kappa, lam_h) in d dimensions."""
    if kappa <= 0:
        raise ValueError(f"hopping parameter kappa must be > 0, got {kappa}")
    return (1.0 - 2.0 * lam_h) / kappa - 2.0 * d, lam_h / kappa**2


def phi4_to_hopping(m2: float, lam: float, d: int) -> tuple[float, float]:
    """(kappa, lam_h) of the hopping form from our (m2, lam); needs lam > 0 or 2d + m2 > 0."""
    # lam_h = lam kappa^2 and (2d + m2) kappa = 1 - 2 lam kappa^2: solve the quadratic for kappa > 0.
    a, b = 2.0 * lam, 2.0 * d + m2
    kappa = (-b + np.sqrt(b * b + 4.0 * a)) / (2.0 * a) if a > 0 else 1.0 / b
    return float(kappa), float(lam * kappa**2)


def phi4_from_canonical(m0_sq: float, g: float) -> tuple[float, float]:
    """(m2, lam) from the canonical 1/2 m0^2 chi^2 + g/4! chi^4 form (phi = chi / sqrt 2)."""
    return float(m0_sq), g / 6.0


def phi4_to_canonical(m2: float, lam: float) -> tuple[float, float]:
    return float(m2), 6.0 * lam


@dataclass(frozen=True)
class Phi4:
    """Real scalar phi^4 theory in our (m2, lam) convention on a periodic lattice of `shape`."""

    shape: tuple[int, ...]
    m2: float
    lam: float
    name = "phi4"

    @property
    def dim(self) -> int:
        return len(self.shape)

    @property
    def volume(self) -> int:
        return int(np.prod(self.shape))

    def action(self, phi: np.ndarray) -> np.ndarray:
        """S for fields of shape (..., *shape); returns shape (...)."""
        axes = tuple(range(-self.dim, 0))
        density = (2 * self.dim + self.m2) * phi**2 + self.lam * phi**4
        for axis in axes:
            density = density - 2.0 * phi * np.roll(phi, -1, axis=axis)
        return density.sum(axis=axes)

    def force(self, phi: np.ndarray) -> np.ndarray:
        """dS/dphi, same shape as phi."""
        grad = 2.0 * (2 * self.dim + self.m2) * phi + 4.0 * self.lam * phi**3
        for axis in range(-self.dim, 0):
            grad = grad - 2.0 * (np.roll(phi, -1, axis=axis) + np.roll(phi, 1, axis=axis))
        return grad

    def field_shape(self) -> tuple[int, ...]:
        return tuple(self.shape)


def wrap_angle(x):
    """Angles into [-pi, pi) (works for numpy arrays and torch tensors)."""
    return (x + np.pi) % (2 * np.pi) - np.pi


@dataclass(frozen=True)
class U1:
    """2D U(1) pure gauge theory with the Wilson plaquette action at coupling beta."""

    shape: tuple[int, int]
    beta: float
    name = "u1"

    @property
    def volume(self) -> int:
        return int(np.prod(self.shape))

    def field_shape(self) -> tuple[int, ...]:
        return (2, *self.shape)

    @staticmethod
    def plaquettes(theta: np.ndarray) -> np.ndarray:
        """P(x) for links (..., 2, L0, L1) -> (..., L0, L1), not wrapped."""
        t0, t1 = theta[..., 0, :, :], theta[..., 1, :, :]
        return t0 + np.roll(t1, -1, axis=-2) - np.roll(t0, -1, axis=-1) - t1

    def action(self, theta: np.ndarray) -> np.ndarray:
        return -self.beta * np.cos(self.plaquettes(theta)).sum(axis=(-2, -1))

    def force(self, theta: np.ndarray) -> np.ndarray:
        """dS/dtheta, shape (..., 2, L0, L1): each link sits in two plaquettes with opposite signs."""
        s = self.beta * np.sin(self.plaquettes(theta))
        f0 = s - np.roll(s, 1, axis=-1)  # theta_0(x) in P(x) (+) and P(x - 1) (-)
        f1 = np.roll(s, 1, axis=-2) - s  # theta_1(x) in P(x - 0) (+) and P(x) (-)
        return np.stack([f0, f1], axis=-3)

    @classmethod
    def topological_charge(cls, theta: np.ndarray) -> np.ndarray:
        """Q per configuration, (...); an integer up to rounding on a periodic lattice."""
        return wrap_angle(cls.plaquettes(theta)).sum(axis=(-2, -1)) / (2 * np.pi)


# The schema key of one ensemble entry; a library caller's settings are checked against it (any name will do).
ENSEMBLE_KEY = "lattice.ensembles.<ensemble>"


def make_theory(theory: str, shape, couplings: dict) -> Phi4 | U1:
    """A theory from its config entry: couplings {form: albergo|hopping|canonical, ...} or {beta}.

    The schema (lattice.ensembles.<ensemble>) checks the theory name, the extents, the coupling form and
    ranges; the checks across keys it cannot express (which couplings a form needs, U(1) in 2D) are here.
    """
    entry = resolve(ENSEMBLE_KEY, {"theory": theory, "shape": list(shape), "couplings": dict(couplings)})
    shape = tuple(int(n) for n in entry["shape"])
    if theory == "phi4":
        return Phi4(shape, *_phi4_couplings(couplings, len(shape)))
    if len(shape) != 2:
        raise ValueError(f"u1 is implemented in 2D only; got shape {list(shape)}")
    if "beta" not in couplings:
        raise ValueError("u1 couplings need 'beta'")
    return U1(shape, float(couplings["beta"]))


def _phi4_couplings(couplings: dict, d: int) -> tuple[float, float]:
    """(m2, lam) of our convention from phi^4 couplings in any of the three forms."""
    form = couplings.get("form", "albergo")  # not a schema default: the files record the couplings as configured
    need = {"albergo": ("m2", "lam"), "hopping": ("kappa", "lam"), "canonical": ("m2", "lam")}
    missing = [k for k in need[form] if k not in couplings]
    if missing:
        raise ValueError(f"phi4 couplings in form '{form}' need keys {list(need[form])}; missing {missing}")
    if form == "albergo":
        return float(couplings["m2"]), float(couplings["lam"])
    if form == "hopping":
        return phi4_from_hopping(float(couplings["kappa"]), float(couplings["lam"]), d)
    return phi4_from_canonical(float(couplings["m2"]), float(couplings["lam"]))
