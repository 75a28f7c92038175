"""The virgo chain end to end on a tiny config: outputs, provenance, rerun triggers."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.helpers import finished_workdir, planned_jobs, planned_jobs_with, snakemake
from tests.virgo.settings import GW150914
from twins.core.io import get_provenance
from twins.core.model_file import load_model

pytestmark = pytest.mark.workflow

TINY = {
    "twins": ["virgo"],
    "virgo": {
        "simulate": {"duration_s": 64, "glitch": {"snr": [40, 60]}},
        "preprocess": {"split": {"train": 0.5, "validation": 0.25, "test": 0.25}},
        "train": {"epochs": 1, "batch_size": 4, "channels": [4, 8]},
        "generate": {"latency_segments": 2},
        "validate": {"snr_thresholds": [3, 6]},
        "report": {"gwosc_file": str(GW150914), "n_examples": 2},
    },
}
AFTER_TRAINING = {"virgo_train", "virgo_generate", "virgo_validate", "virgo_report", "all"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return finished_workdir(tmp_path_factory, "virgo", TINY)


def test_chain_writes_every_output_with_provenance(workdir):
    metrics = json.loads((workdir / "results/virgo/validate/metrics.json").read_text())
    assert set(metrics["accuracy"]) == {"snr_3", "snr_6"}
    assert metrics["threshold_unit"].startswith("normalised Q-tile energy")
    assert metrics["latency"]["real_time_factor"] > 0
    assert 0 <= metrics["channel_selection"]["precision"] <= 1
    html = (workdir / "results/virgo/report/summary.html").read_text()
    assert "V1:SBE_SDB1_LVDT_Z" in html and "Latency" in html
    for name in ("examples", "accuracy_vs_threshold"):
        assert (workdir / f"results/virgo/report/{name}.png").stat().st_size > 1000
    record = get_provenance(workdir / "results/virgo/preprocess/train.h5")
    assert record["step"] == "virgo_preprocess" and record["upstream"]["upstream"]["master_seed"] == 42
    model = load_model(workdir / "results/virgo/models/glitchflow/model.pt", "virgo", "glitchflow", "virgo_train")
    assert model.meta["provenance"]["step"] == "virgo_train"
    for step in ("simulate", "train", "report"):
        assert (workdir / f"benchmarks/virgo/{step}.tsv").exists() and (workdir / f"logs/virgo/{step}.log").exists()


@pytest.mark.skipif(not GW150914.exists(), reason="shared GW150914 file not available (../shared/data/gw)")
def test_real_gw150914_qscan_finds_the_chirp(workdir):
    qscan = json.loads((workdir / "results/virgo/report/gw150914_qscan.json").read_text())
    assert abs(qscan["peak_gps"] - 1126259462.4) < 0.1 and 30 < qscan["peak_frequency_hz"] < 400
    assert (workdir / "results/virgo/report/gw150914_qscan.png").stat().st_size > 1000


def test_without_the_real_file_the_simulated_chain_still_runs(workdir):
    (workdir / "nofile.yaml").write_text(
        yaml.safe_dump({**TINY, "virgo": {**TINY["virgo"], "report": {"gwosc_file": "missing.hdf5"}}})
    )
    result = snakemake(workdir, "-n", "--configfile", "nofile.yaml")
    assert "virgo_qscan" not in planned_jobs(result.stdout)
    assert "missing.hdf5 not found" in result.stderr


def test_nothing_left_to_do_after_a_run(workdir):
    assert planned_jobs(snakemake(workdir, "-n", "--configfile", "tiny.yaml").stdout) == {}


def test_changing_epochs_reruns_only_training_and_after(workdir):
    jobs = planned_jobs_with(workdir, TINY, ("virgo", "train", "epochs"), 2, "epochs.yaml")
    assert set(jobs) == AFTER_TRAINING


def test_changing_the_cluster_size_reruns_only_validation(workdir):
    jobs = planned_jobs_with(workdir, TINY, ("virgo", "validate", "min_cluster_pixels"), 16, "cluster.yaml")
    assert set(jobs) == {"virgo_validate", "virgo_report", "all"}
