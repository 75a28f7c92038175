import numpy as np
import pytest
import yaml

from tests.tpc.tpc_samples import DETECTOR_FILE
from twins.tpc.detector import DetectorError, detector_from_dict, load_detector


def test_detector_rows_abut_and_have_two_pad_lengths(detector):
    assert detector.n_rows == 53
    d = detector.row_distances_cm
    lengths = detector.pad_lengths_cm
    np.testing.assert_allclose(np.diff(d), 0.5 * (lengths[:-1] + lengths[1:]))
    assert d[0] == pytest.approx(detector.first_row_distance_cm)
    assert detector.drift_per_bucket_cm == pytest.approx(0.545)


def test_bad_detector_names_the_key(tmp_path):
    record = yaml.safe_load(DETECTOR_FILE.read_text())
    del record["gas_gain"]
    with pytest.raises(DetectorError, match="gas_gain"):
        detector_from_dict(record, "x.yaml")
    record = yaml.safe_load(DETECTOR_FILE.read_text())
    record["pad_pitch_cm"] = 0
    with pytest.raises(DetectorError, match="pad_pitch_cm"):
        detector_from_dict(record)
    with pytest.raises(DetectorError, match="not found"):
        load_detector(tmp_path / "none.yaml")
