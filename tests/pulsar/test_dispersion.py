"""Cold-plasma dispersion, smearing and scattering laws, and the DM trial grid of a search."""

import numpy as np
import pytest

from twins.pulsar.dispersion import dispersion_delay, dm_trial_grid, scattering_time, smearing_time


def test_delay_law_values():
    assert dispersion_delay(100.0, np.array([1000.0]), 2000.0)[0] == pytest.approx(0.4148808 * 0.75)
    assert smearing_time(10.0, np.array([1400.0]), 1.0)[0] == pytest.approx(8.3e-6 * 10 / 1.4**3, rel=0.01)
    assert scattering_time(1e-3, np.array([2000.0]))[0] == pytest.approx(1e-3 * 2**-4.4)


def test_dm_trial_steps_keep_the_smearing_within_tolerance():
    # Effelsberg-like band, 256 channels of 1.17 MHz at 64 us, a 0.5 ms pulse
    f_top, width, nchans, tsamp, pulse = 1509.4, 1.171875, 256, 64e-6, 5e-4
    dms = dm_trial_grid(f_top, -width, nchans, tsamp, 100.0, pulse_width_s=pulse, tolerance=1.25)
    assert dms[0] == 0 and dms[-2] < 100 <= dms[-1] and np.all(np.diff(dms) > 0)
    f_centre = f_top - (nchans / 2 - 0.5) * width
    quarter = dispersion_delay(1.0, f_centre - nchans * width / 8, f_centre + nchans * width / 8)  # s per DM
    for prev, step in zip(dms[:-1], np.diff(dms)):
        base = tsamp**2 + pulse**2 + smearing_time(prev, f_centre, width) ** 2
        # next trial: its own channel smearing plus a quarter band's delay of the DM step, in quadrature
        smeared = tsamp**2 + pulse**2 + smearing_time(prev + step, f_centre, width) ** 2 + (quarter * step) ** 2
        assert np.sqrt(smeared / base) == pytest.approx(1.25, rel=0.02)  # 8.3 us approximates the f^-2 law
    # steps widen once channel smearing dominates the sampling time and the pulse width
    wide = np.diff(dm_trial_grid(f_top, width, nchans, tsamp, 1000.0, pulse_width_s=pulse))
    assert wide[-1] > 2 * wide[0]
    # a coarser sampling needs fewer trials over the same range
    assert len(dm_trial_grid(f_top, width, nchans, 4 * tsamp, 100.0, pulse)) < len(dms)


def test_dm_trial_grid_rejects_a_tolerance_at_or_below_one():
    with pytest.raises(ValueError, match="tolerance > 1"):
        dm_trial_grid(1500.0, 1.0, 256, 64e-6, 30.0, tolerance=1.0)
