import numpy as np
import pytest

from twins.tpc.metrics import profile, profile_chi2, response_moments, simulator_rate


def test_moments_of_a_known_response():
    a = np.zeros((2, 8, 16), dtype=np.float32)
    a[0, 2, 5] = a[0, 4, 5] = 10.0
    m = response_moments(a)
    assert m["pad_mean"][0] == pytest.approx(3.0) and m["time_mean"][0] == pytest.approx(5.0)
    assert m["pad_width"][0] == pytest.approx(1.0) and m["time_width"][0] == pytest.approx(0.0)
    assert m["amplitude"][0] == 20.0 and np.isnan(m["pad_mean"][1])


def test_profile_chi2_sees_a_shift_and_not_a_resample():
    rng = np.random.default_rng(0)
    cond = rng.uniform(0, 1, 4000)
    edges = np.linspace(0, 1, 6)
    a, b = profile(cond, cond + rng.normal(0, 1, 4000), edges), profile(cond, cond + rng.normal(0, 1, 4000), edges)
    shifted = profile(cond, cond + 0.3 + rng.normal(0, 1, 4000), edges)
    chi2, ndf = profile_chi2(a, b)
    assert ndf == 10 and chi2 < 30
    assert profile_chi2(a, shifted)[0] > 100


def test_simulator_rate_pools_the_chunks():
    assert simulator_rate([{"segments": 100, "seconds": 1.0}, {"segments": 300, "seconds": 3.0}]) == 100.0
