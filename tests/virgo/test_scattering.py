"""Fringe prediction from bench-motion witnesses: f = 2|v|/lambda, and its map on the strain's frequency axis."""

import numpy as np
import pytest

from twins.virgo.io import ASD, TimeSeries
from twins.virgo.qtransform import log_frequencies
from twins.virgo.scattering import LASER_WAVELENGTH_M, field_map, fringe_frequency, fringe_map

FS = 1024.0


def _motion(unit):
    t = np.arange(int(8 * FS)) / FS
    amplitude, f = 5e-6, 2.0  # v_max = 2 pi f A = 62.8 um/s -> 118 Hz fringes
    x = amplitude * np.sin(2 * np.pi * f * t)
    v = 2 * np.pi * f * amplitude * np.cos(2 * np.pi * f * t)
    fringe_max = 2 * 2 * np.pi * f * amplitude / LASER_WAVELENGTH_M
    return TimeSeries(x if unit == "m" else v, 100.0, 1 / FS, "V1:TEST", unit), fringe_max


@pytest.mark.parametrize("unit", ["m", "m/s"])
def test_fringe_frequency_is_twice_the_speed_over_the_wavelength(unit):
    series, expected_max = _motion(unit)
    f = fringe_frequency(series)[1024:-1024]  # away from the filter's edges
    assert f.max() == pytest.approx(expected_max, rel=0.02)
    assert f.min() < 0.05 * expected_max  # the arch returns to zero at the turning points


def test_fringe_map_puts_the_time_in_the_right_rows():
    series, expected_max = _motion("m")
    freqs = log_frequencies(8, 500, 64)
    fmap = fringe_map(series, freqs, (102.0, 106.0), 64)
    assert fmap.shape == (64, 64) and np.all(fmap <= 1 + 1e-9)
    top = freqs[np.flatnonzero(fmap.sum(axis=1))].max()
    assert top == pytest.approx(expected_max, rel=0.1)


def test_fringe_prediction_refuses_other_sensors():
    series = TimeSeries(np.zeros(4096), 0.0, 1 / FS, "V1:ENV_CEB_MAG_X", "T")
    with pytest.raises(ValueError, match="V1:ENV_CEB_MAG_X"):
        fringe_frequency(series)


def test_field_map_is_the_square_root_of_the_binned_power_over_its_noise():
    rng = np.random.default_rng(0)
    t = np.arange(4 * FS) / FS
    power = np.where((t > 1.0) & (t < 2.0), 4e-6, 0.0)  # a 1 s pulse of 4 uW
    asd = ASD(np.array([0.0, 1.0, 512.0]), np.full(3, 1e-9))  # white noise, 1e-9 W/sqrt(Hz)
    noisy = TimeSeries(power + 1e-9 * np.sqrt(FS / 2) * rng.standard_normal(len(t)), 100.0, 1 / FS, "V1:PD", "W")
    field = field_map(noisy, asd, (100.0, 104.0), 64)
    sigma = 1e-9 * np.sqrt(1 / (2 * 4.0 / 64))  # noise of a 62.5 ms average
    inside = field[20:28]  # bins 16..31 hold the pulse; keep clear of its edges
    np.testing.assert_allclose(inside, np.sqrt(4e-6 / sigma), rtol=0.02)
    assert np.all(field[40:] < 3)  # noise only: at most a few sigma under the square root
    with pytest.raises(ValueError, match="power monitor"):
        field_map(TimeSeries(power, 100.0, 1 / FS, "V1:X", "m"), asd, (100.0, 104.0), 64)
