"""Fixtures of the pulsar tests: the real Parkes file (skips without it) and a small PulsarDT dataset."""

import pytest

from tests.pulsar.real_data import PARKES, REPO


@pytest.fixture
def parkes():
    if not PARKES.exists():
        pytest.skip(f"real data {PARKES} not present (see ../shared/data/README.md)")
    return PARKES


@pytest.fixture
def settings_dt():
    """A small PulsarDT dataset (schema defaults, shortened)."""
    return {
        "generator": "pulsar_dt",
        "telescope": str(REPO / "resources/pulsar/effelsberg_lband.yaml"),
        "scans": 2,
        "scan_seconds": 0.1,
        "period_s": {"min": 0.03, "max": 0.05},
        "duty_cycle": {"min": 0.01, "max": 0.03},
        "components": {"min": 1, "max": 3},
        "dm": {"min": 3, "max": 30},
        "scattering_ms_at_1ghz": {"min": 0, "max": 1},
        "spectral_index": {"min": -2, "max": -1},
        "snr": {"min": 10, "max": 20},
        "modulation_index": 0.3,
        "rfi": {
            "nb_carriers_per_scan": 1.0,
            "nb_intermittent_fraction": 0.5,
            "nb_amplitude_sigma": {"min": 1, "max": 8},
            "bb_rate_hz": 10.0,
            "bb_max_width_samples": 4,
            "bb_amplitude_sigma": {"min": 0.7, "max": 5},
        },
    }
