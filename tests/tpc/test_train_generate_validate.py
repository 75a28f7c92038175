import numpy as np
import pandas as pd
import pytest
import torch

from twins.core.io import read_json
from twins.tpc.dataset import write_segments_h5
from twins.tpc.generate import generate_for_test
from twins.tpc.moments import profile, profile_chi2, response_moments
from twins.tpc.padrow import PadRowSimulator
from twins.tpc.preprocess import ENCODED, encode, fit_scales, log_transform, raw_encoding
from twins.tpc.report import write_report
from twins.tpc.tracks import FEATURES
from twins.tpc.train import train_variant
from twins.tpc.validate import validate_variant

TRAIN = {
    "epochs": 2,
    "batch_size": 16,
    "latent_size": 4,
    "generator_hidden": [16],
    "critic_hidden": [16],
    "n_critic": 2,
    "gp_lambda": 10.0,
    "lr_generator": 1e-3,
    "lr_critic": 1e-3,
}


@pytest.fixture(scope="module")
def splits(tmp_path_factory, detector, segments):
    """train/validation/test files of 200/100/100 simulated segments."""
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("tpcsplits")
    responses = PadRowSimulator(detector).simulate(segments, np.random.default_rng(0))
    scales = fit_scales(raw_encoding({k: v[:200] for k, v in segments.items()}, detector))
    files = {}
    for name, sl in (("train", slice(0, 200)), ("validation", slice(200, 300)), ("test", slice(300, 400))):
        part = {k: v[sl] for k, v in segments.items()}
        files[name] = path / f"{name}.h5"
        write_segments_h5(
            files[name],
            {
                "response": responses[sl],
                "features": np.stack([part[k].astype(float) for k in FEATURES], axis=1),
                "log_response": log_transform(responses[sl]),
                "encoded": encode(part, detector, scales),
            },
            detector.to_dict(),
            {"step": "test"},
            columns={"encoded": list(ENCODED)},
            attrs={"scales": scales},
        )
    return path, files


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


def test_train_resume_generate_validate_report(splits):
    path, files = splits
    common = dict(train_h5=files["train"], validation_h5=files["validation"], settings=TRAIN, seed=3, device="cpu")
    train_variant(
        "fast6", checkpoint_path=path / "ck.pt", out_model=path / "model.pt", out_history=path / "h.csv", **common
    )
    history = pd.read_csv(path / "h.csv")
    assert list(history["epoch"]) == [0, 1] and np.isfinite(history["val_wasserstein"]).all()
    # a run killed after epoch 0 resumes from its checkpoint and ends with the same weights
    train_variant(
        "fast6",
        checkpoint_path=path / "ck1.pt",
        out_model=path / "m1.pt",
        out_history=path / "h1.csv",
        **{**common, "settings": {**TRAIN, "epochs": 1}},
    )
    train_variant(
        "fast6", checkpoint_path=path / "ck1.pt", out_model=path / "m2.pt", out_history=path / "h2.csv", **common
    )
    full, resumed = torch.load(path / "model.pt"), torch.load(path / "m2.pt")
    for key, value in full["generator_state"].items():
        torch.testing.assert_close(value, resumed["generator_state"][key])
    train_variant(
        "fast4", checkpoint_path=path / "ck4.pt", out_model=path / "m4.pt", out_history=path / "h4.csv", **common
    )
    metrics = {}
    (path / "sim.json").write_text('{"segments": 100, "seconds": 1.0, "segments_per_second": 100.0}')
    for variant, model in (("fast6", path / "model.pt"), ("fast4", path / "m4.pt")):
        generate_for_test(
            model, files["test"], {"batch_size": 32}, 1, "cpu", path / f"{variant}.h5", path / f"{variant}.json"
        )
        out = {k: path / f"{variant}_{k}.png" for k in ("profiles", "moments", "examples")}
        out["metrics"] = metrics[variant] = path / f"{variant}_metrics.json"
        validate_variant(
            variant,
            files["test"],
            files["validation"],
            path / f"{variant}.h5",
            [path / "sim.json"],
            path / f"{variant}.json",
            {"n_bins": 3, "n_examples": 2},
            out,
        )
        summary = read_json(out["metrics"])["summary"]
        assert summary["speed_ratio"] == pytest.approx(summary["generator_segments_per_second"] / 100.0)
        assert summary["chi2_ndf_all_conditions"] > 0 and summary["chi2_ndf_fast4_conditions_floor"] > 0
    frame = write_report(metrics, path / "t.html", path / "t.csv", path / "c.png")
    assert list(frame.columns) == ["fast6", "fast4", "simulation floor"]
    assert (path / "c.png").stat().st_size > 1000 and "fast4" in (path / "t.html").read_text()


def test_generation_is_seeded(splits):
    path, files = splits
    train_variant(
        "fast4",
        files["train"],
        files["validation"],
        {**TRAIN, "epochs": 1},
        3,
        "cpu",
        path / "g.pt",
        path / "gm.pt",
        path / "gh.csv",
    )
    for name in ("a", "b"):
        generate_for_test(
            path / "gm.pt", files["test"], {"batch_size": 64}, 5, "cpu", path / f"{name}.h5", path / f"{name}.json"
        )
    import h5py

    with h5py.File(path / "a.h5") as a, h5py.File(path / "b.h5") as b:
        np.testing.assert_array_equal(a["response"][...], b["response"][...])
        assert a["response"].shape == (100, 8, 16) and a["response"][...].min() >= 0
