"""Fixtures of the TPC tests: the MPD-like detector and a small segment sample."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tpc_samples import DETECTOR_FILE, SIMULATE  # noqa: E402
from twins.tpc.detector import load_detector  # noqa: E402
from twins.tpc.tracks import sample_segments  # noqa: E402


@pytest.fixture(scope="session")
def detector():
    return load_detector(DETECTOR_FILE)


@pytest.fixture(scope="session")
def segments(detector):
    return sample_segments(400, detector, SIMULATE, np.random.default_rng(3))
