"""The pulsar steps called as the rule scripts call them (plain dicts, no Snakemake), on a tiny RFI_Gen dataset:
simulate -> convert -> preprocess -> train -> generate -> validate -> report (needs no real data)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from tests.pulsar.real_data import REPO
from twins.core.config import resolve
from twins.core.io import get_provenance
from twins.pulsar import steps

FRAMES = {"size": 64, "time_downsample": 2, "freq_downsample": 4}  # 256 channels: the Effelsberg preset's band


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Every step run once; returns the folder of its files."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("pulsar_steps")
    telescope = str(REPO / "resources/pulsar/effelsberg_lband.yaml")
    dataset = resolve("pulsar.datasets.toy", {"generator": "rfi_gen", "telescope": telescope, "frames_per_class": 3})
    files = {k: str(out / name) for k, name in (("fil", "toy.fil"), ("truth", "toy_truth.h5"), ("summary", "toy.json"))}
    labelling = resolve("pulsar.labelling")
    steps.simulate(
        {"telescope": telescope}, files, dict(dataset=dataset, frames=FRAMES, labelling=labelling, seed=7, name="toy")
    )
    steps.convert(
        {"fil": files["fil"], "truth": files["truth"]}, {"frames": str(out / "frames.h5")}, {"frames": FRAMES}
    )
    parts = {part: str(out / f"{part}.h5") for part in ("train", "validation", "test")}
    steps.preprocess(
        {"frames": str(out / "frames.h5")},
        parts,
        {"preprocess": resolve("pulsar.preprocess"), "seed": 7, "name": "toy"},
    )
    train = resolve(
        "pulsar.train", {"epochs": 1, "channels": [4, 8], "batch_size": 8, "pulse_threshold": {"rule": "accuracy"}}
    )
    model = {"model": str(out / "model.pt"), "history": str(out / "history.csv"), "losses": str(out / "losses.png")}
    params = dict(train=train, frames=FRAMES, seed=7, device="cpu", checkpoint=str(out / "checkpoint.pt"), model="toy")
    steps.train({"train": parts["train"], "validation": parts["validation"]}, model, params)
    generate = {
        k: v for k, v in resolve("pulsar.generate").items() if k in ("threshold", "batch_size", "mask_flagged_channels")
    }
    reduced = {
        k: str(out / f"obs_{k}.{ext}")
        for k, ext in (("labels", "h5"), ("reduced", "h5"), ("candidates", "csv"), ("summary", "json"))
    }
    params = dict(
        generate=generate,
        preprocess=resolve("pulsar.preprocess"),
        flagging=resolve("pulsar.flagging"),
        downsample=None,
        observation="obs",
    )
    steps.generate({"fil": files["fil"], "model": model["model"]}, reduced, params, threads=1)
    validation = {
        "metrics": str(out / "metrics.json"),
        "snr": str(out / "snr.png"),
        "confusion": str(out / "confusion.png"),
    }
    params = dict(
        validate=resolve("pulsar.validate", {"throughput_frames": 16}),
        generate={k: generate[k] for k in ("threshold", "batch_size")},
        datasets=["toy"],
        observations=["obs"],
        masks={},
        trained_on="toy",
        seed=7,
        model="toy",
    )
    steps.validate(
        {"model": model["model"], "tests": [parts["test"]], "summaries": [reduced["summary"]]}, validation, params
    )
    report = {
        "table": str(out / "metrics.html"),
        "csv": str(out / "metrics.csv"),
        "examples": str(out / "examples.png"),
    }
    steps.report(
        {"metrics": [validation["metrics"]], "examples": parts["test"]}, report, {"models": ["toy"], "seed": 7}
    )
    return out


def test_simulate_convert_preprocess_keep_every_frame_and_its_truth(chain):
    summary = json.loads((chain / "toy.json").read_text())
    assert summary["frames"] == 8 * 3 and summary["dataset"] == "toy" and summary["generator"] == "rfi_gen"
    with h5py.File(chain / "frames.h5") as f:
        assert f["frames"].shape == (24, 64, 64) and f["labels"].shape == (24, 3)
        assert f.attrs["frame_size"] == 64 and f.attrs["nchans"] == 256
    rows = {}
    for part in ("train", "validation", "test"):
        with h5py.File(chain / f"{part}.h5") as f:
            rows[part] = f["source_index"][...]
            assert f["frames"].dtype == np.float16 and len(f["labels"]) == len(rows[part])
    assert set(rows["train"]) | set(rows["validation"]) | set(rows["test"]) == set(range(24))
    assert not set(rows["train"]) & set(rows["test"])
    assert get_provenance(chain / "test.h5")["step"] == "pulsar_preprocess"


def test_train_generate_validate_report_write_their_files(chain):
    history = pd.read_csv(chain / "history.csv")
    assert list(history["epoch"]) == [0] and (chain / "losses.png").stat().st_size > 0
    summary = json.loads((chain / "obs_summary.json").read_text())
    assert summary["frames"] == 24 and summary["observation"] == "obs"
    assert len(pd.read_csv(chain / "obs_candidates.csv")) == summary["frames_kept"]
    metrics = json.loads((chain / "metrics.json").read_text())
    assert metrics["model"] == "toy" and metrics["datasets"]["toy"]["in_domain"] is True
    assert metrics["threshold_choice"]["rule"] == "accuracy" and metrics["observations"]["obs"]["frames"] == 24
    table = pd.read_csv(chain / "metrics.csv")
    assert set(table["tested_on"]) == {"toy", "observation obs", "throughput (2 threads)"}
    page = (chain / "metrics.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "observation obs" in page


def test_convert_refuses_truth_of_another_frame_geometry(chain, tmp_path):
    inputs = {"fil": str(chain / "toy.fil"), "truth": str(chain / "toy_truth.h5")}
    with pytest.raises(ValueError, match=r"toy_truth\.h5.*rerun pulsar_simulate"):
        steps.convert(inputs, {"frames": str(tmp_path / "frames.h5")}, {"frames": {**FRAMES, "time_downsample": 1}})
