import json

import numpy as np
import pytest
import uproot

from tests.tpc.tpc_samples import DETECTOR_FILE, SIMULATE
from twins.core.io import InputFileError, get_provenance
from twins.tpc.convert import convert_root_to_hdf5
from twins.tpc.dataset import feature_columns, read_segments_h5
from twins.tpc.padrow import PadRowSimulator
from twins.tpc.preprocess import ENCODED, inverse_log_transform, log_transform, preprocess, split_indices
from twins.tpc.production import chunk_segments, simulate_chunk
from twins.tpc.rootio import iterate_root_segments, write_segments_root
from twins.tpc.tracks import FEATURES


@pytest.fixture(scope="module")
def chunks(tmp_path_factory):
    """Two simulated chunks of 150 segments, written by the tpc_simulate step."""
    path = tmp_path_factory.mktemp("tpc")
    settings = {**SIMULATE, "segments": 300, "chunks": 2}
    for chunk in range(2):
        simulate_chunk(DETECTOR_FILE, settings, 7, chunk, path / f"chunk_{chunk}.root", path / f"chunk_{chunk}.json")
    return path


def test_chunks_split_the_total():
    assert [chunk_segments(7, 3, c) for c in range(3)] == [3, 2, 2]
    with pytest.raises(ValueError, match="tpc.simulate.chunks"):
        chunk_segments(7, 3, 3)


def test_root_chunk_holds_responses_features_and_provenance(chunks):
    with uproot.open(chunks / "chunk_0.root") as f:
        tree = f["segments"]
        assert tree.num_entries == 150 and set(FEATURES) <= set(tree.keys())
        record = json.loads(str(f["provenance"]))
    assert record["step"] == "tpc_simulate" and record["chunk"] == 0 and record["master_seed"] == 7
    arrays = next(iterate_root_segments(chunks / "chunk_0.root", 1000))
    assert arrays["response"].shape == (150, 8, 16)
    timing = json.loads((chunks / "chunk_0.json").read_text())
    assert timing["segments_per_second"] > 0
    # chunks draw distinct derived streams
    other = next(iterate_root_segments(chunks / "chunk_1.root", 1000))
    assert not np.array_equal(arrays["pt"], other["pt"])


def test_round_trip_and_bad_file(tmp_path, detector, segments):
    responses = PadRowSimulator(detector).simulate(segments, np.random.default_rng(0))
    write_segments_root(tmp_path / "a.root", responses, segments, detector.to_dict(), {"step": "test"})
    back = next(iterate_root_segments(tmp_path / "a.root", 10_000))
    np.testing.assert_array_equal(back["response"], responses)
    np.testing.assert_array_equal(back["pad_row"], segments["pad_row"])
    (tmp_path / "bad.root").write_bytes(b"not root")
    with pytest.raises(InputFileError, match="bad.root"):
        next(iterate_root_segments(tmp_path / "bad.root", 10))


def test_convert_and_preprocess(chunks, tmp_path):
    files = [chunks / "chunk_0.root", chunks / "chunk_1.root"]
    assert convert_root_to_hdf5(files, tmp_path / "seg.h5", {"step_size": 64}) == 300
    record = get_provenance(tmp_path / "seg.h5")
    assert record["step"] == "tpc_convert" and len(record["upstream"]) == 2
    outputs = {k: tmp_path / f"{k}.h5" for k in ("train", "validation", "test")}
    split = {"train": 0.6, "validation": 0.2, "test": 0.2}
    preprocess(tmp_path / "seg.h5", outputs, {"split": split}, seed=1)
    parts = {k: read_segments_h5(v, ("response", "features", "log_response", "encoded")) for k, v in outputs.items()}
    assert [len(parts[k]["response"]) for k in outputs] == [180, 60, 60]
    train = parts["train"]
    np.testing.assert_allclose(train["log_response"], np.log10(1 + train["response"]), rtol=1e-6)
    assert train["columns"]["encoded"] == list(ENCODED)
    enc = train["encoded"]
    assert np.all(np.abs(enc[:, ENCODED.index("pad_fraction")]) <= 0.5)
    np.testing.assert_allclose(enc[:, ENCODED.index("crossing_angle")].mean(), 0, atol=1e-5)  # standardised on train
    feats = feature_columns(train)
    frac = feats["pad_coordinate"] - np.floor(feats["pad_coordinate"]) - 0.5
    np.testing.assert_allclose(enc[:, ENCODED.index("pad_fraction")], frac, atol=1e-6)


def test_splits_are_disjoint_seeded_and_checked():
    a = split_indices(100, {"train": 0.7, "validation": 0.1, "test": 0.2}, seed=5)
    b = split_indices(100, {"train": 0.7, "validation": 0.1, "test": 0.2}, seed=5)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert len(np.unique(np.concatenate(list(a.values())))) == 100
    with pytest.raises(ValueError, match="sum"):
        split_indices(100, {"train": 0.8, "validation": 0.2, "test": 0.2}, seed=5)


def test_log_transform_inverts():
    x = np.array([0.0, 3.0, 1023.0], dtype=np.float32)
    np.testing.assert_allclose(inverse_log_transform(log_transform(x)), x, rtol=1e-5)
    assert inverse_log_transform(np.array([-0.3]))[0] == 0.0
