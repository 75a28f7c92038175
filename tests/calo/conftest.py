"""Fixtures of the calorimeter tests: the synthetic validation samples that test_metrics and test_figures share."""

import pytest

from tests.calo.stand_ins import stand_in_geometry, synthetic_showers


@pytest.fixture(scope="session")
def geo():
    """A 10 x 10 x 8 grid of 5 mm cells and layers, X0 = 8 mm, R_M = 20 mm."""
    return stand_in_geometry(10, 10, 8, 5.0, 5.0, 5.0, x0=8.0, moliere_mm=20.0)


@pytest.fixture(scope="session")
def samples(geo):
    """reference, same (another draw of its distribution), independent (500 showers of it) and different
    (deeper, wider showers)."""
    return {
        "reference": synthetic_showers(geo, 400, seed=1),
        "same": synthetic_showers(geo, 400, seed=2),
        "independent": synthetic_showers(geo, 500, seed=4),
        "different": synthetic_showers(geo, 400, seed=3, depth_shape=3.5, width_mm=7.0),
    }
