"""Fixtures of the TPC tests: the MPD-like detector and a small segment sample."""

import numpy as np
import pytest

from tests.tpc.tpc_samples import DETECTOR_FILE, SIMULATE
from twins.tpc.detector import load_detector
from twins.tpc.tracks import sample_segments


@pytest.fixture(scope="session")
def detector():
    return load_detector(DETECTOR_FILE)


@pytest.fixture(scope="session")
def segments(detector):
    return sample_segments(400, detector, SIMULATE, np.random.default_rng(3))
