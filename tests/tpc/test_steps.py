"""The TPC steps with plain dicts, as the rule scripts call them: simulate, convert, preprocess on two small
chunks; generate, validate and report on the trained variants of conftest."""

import json

import numpy as np
import pandas as pd
import pytest
import uproot

from twins.core.io import get_provenance, read_json
from twins.tpc import steps
from twins.tpc.encoding import ENCODED
from twins.tpc.io import feature_columns, iterate_root_segments, read_segments_h5
from twins.tpc.tracks import FEATURES


def test_simulate_writes_a_root_chunk_with_provenance_and_timing(chunks):
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


def test_convert_and_preprocess(chunks, tmp_path):
    files = [str(chunks / "chunk_0.root"), str(chunks / "chunk_1.root")]
    steps.convert({"segments": files}, {"segments": str(tmp_path / "seg.h5")}, {"convert": {"step_size": 64}})
    assert len(read_segments_h5(tmp_path / "seg.h5")["response"]) == 300
    record = get_provenance(tmp_path / "seg.h5")
    assert record["step"] == "tpc_convert" and len(record["upstream"]) == 2
    outputs = {k: str(tmp_path / f"{k}.h5") for k in ("train", "validation", "test")}
    split = {"train": 0.6, "validation": 0.2, "test": 0.2}
    steps.preprocess({"segments": str(tmp_path / "seg.h5")}, outputs, {"preprocess": {"split": split}, "seed": 1})
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


def test_generate_validate_report(splits, trained):
    path, files = splits
    metrics = {}
    (path / "sim.json").write_text('{"segments": 100, "seconds": 1.0, "segments_per_second": 100.0}')
    for variant in ("fast6", "fast4"):
        generated = {"responses": str(path / f"{variant}.h5"), "timing": str(path / f"{variant}.json")}
        steps.generate(
            {"model": trained[variant]["model"], "test": str(files["test"])},
            generated,
            {"generate": {"batch_size": 32}, "seed": 1, "device": "cpu", "variant": variant},
        )
        out = {k: str(path / f"{variant}_{k}.png") for k in ("profiles", "moments", "examples")}
        out["metrics"] = metrics[variant] = str(path / f"{variant}_metrics.json")
        inputs = {
            "reference": str(files["test"]),
            "independent": str(files["validation"]),
            "generated": generated["responses"],
            "simulate_timing": [str(path / "sim.json")],
            "generate_timing": generated["timing"],
        }
        steps.validate(inputs, out, {"validate": {"n_bins": 3, "n_examples": 2}, "variant": variant})
        summary = read_json(out["metrics"])["summary"]
        assert summary["speed_ratio"] == pytest.approx(summary["generator_segments_per_second"] / 100.0)
        assert summary["chi2_ndf_all_conditions"] > 0 and summary["chi2_ndf_fast4_conditions_floor"] > 0
    report = {"table": path / "t.html", "csv": path / "t.csv", "comparison": path / "c.png"}
    outputs = {k: str(v) for k, v in report.items()}
    steps.report({"metrics": list(metrics.values())}, outputs, {"variants": list(metrics)})
    frame = pd.read_csv(report["csv"], index_col=[0, 1])
    assert list(frame.columns) == ["fast6", "fast4", "simulation floor"]
    assert report["comparison"].stat().st_size > 1000 and "fast4" in report["table"].read_text()


def test_validate_refuses_responses_of_other_segments(splits, trained, tmp_path):
    path, files = splits
    inputs = {
        "reference": str(files["test"]),
        "independent": str(files["validation"]),
        "generated": str(files["validation"]),  # 100 segments, but not the test split's
        "simulate_timing": [],
        "generate_timing": "unused.json",
    }
    outputs = {k: str(tmp_path / f"{k}.png") for k in ("profiles", "moments", "examples")}
    with pytest.raises(ValueError, match="do not match the test segments.*rerun tpc_generate"):
        steps.validate(inputs, {**outputs, "metrics": str(tmp_path / "m.json")}, {"validate": {}, "variant": "fast4"})
