import numpy as np
import pytest

from twins.core.io import InputFileError
from twins.tpc.io import iterate_root_segments, read_root_chunks, require_same_segments, write_segments_root
from twins.tpc.padrow import PadRowSimulator


def test_round_trip_and_bad_file(tmp_path, detector, segments):
    responses = PadRowSimulator(detector).simulate(segments, np.random.default_rng(0))
    write_segments_root(tmp_path / "a.root", responses, segments, detector.to_dict(), {"step": "test"})
    back = next(iterate_root_segments(tmp_path / "a.root", 10_000))
    np.testing.assert_array_equal(back["response"], responses)
    np.testing.assert_array_equal(back["pad_row"], segments["pad_row"])
    (tmp_path / "bad.root").write_bytes(b"not root")
    with pytest.raises(InputFileError, match="bad.root"):
        next(iterate_root_segments(tmp_path / "bad.root", 10))


def test_chunks_of_another_detector_or_none_are_refused(tmp_path, detector, segments):
    few = {k: v[:5] for k, v in segments.items()}
    responses = np.zeros((5, *detector.window_shape), dtype=np.float32)
    write_segments_root(tmp_path / "a.root", responses, few, detector.to_dict(), {"step": "test"})
    write_segments_root(tmp_path / "b.root", responses, few, {**detector.to_dict(), "gas_gain": 1.0}, {"step": "test"})
    assert len(read_root_chunks([tmp_path / "a.root"], 2)["response"]) == 5
    with pytest.raises(InputFileError, match="b.root: detector differs"):
        read_root_chunks([tmp_path / "a.root", tmp_path / "b.root"], 2)
    with pytest.raises(ValueError, match="tpc.simulate.chunks"):
        read_root_chunks([], 2)


def test_generated_responses_must_belong_to_the_reference():
    reference = {"response": np.zeros((3, 8, 16)), "features": np.arange(18.0).reshape(3, 6)}
    require_same_segments(reference, reference, "gen.h5", "test.h5")
    with pytest.raises(ValueError, match="gen.h5.*test.h5.*rerun tpc_generate"):
        require_same_segments({**reference, "features": reference["features"] + 1}, reference, "gen.h5", "test.h5")
