"""The pulsar chain end to end on a tiny config: outputs, provenance, the real file, rerun triggers."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.helpers import finished_workdir, planned_jobs, planned_jobs_with, snakemake
from tests.pulsar.real_data import PARKES, PARKES_MASK
from twins.core.io import get_provenance
from twins.pulsar.models.frame_classifier.network import load_classifier

pytestmark = pytest.mark.workflow

TINY = {
    "twins": ["pulsar"],
    "pulsar": {
        "frames": {"size": 64, "time_downsample": 2, "freq_downsample": 4},
        "datasets": {
            "dt": {"generator": "pulsar_dt", "scans": 6, "scan_seconds": 0.25},
            "rfigen": {"generator": "rfi_gen", "frames_per_class": 4},
            # config/config.yaml's datasets merge in: keep its held-out observation tiny
            "obs": {"generator": "pulsar_dt", "scans": 2, "scan_seconds": 0.25},
        },
        "models": {"dt": "dt"},
        "train": {"epochs": 1, "channels": [4, 8], "batch_size": 32},
        "validate": {"throughput_frames": 32},
        "generate": {"simulated": ["dt"], "real": {"parkes": {"path": str(PARKES), "mask": str(PARKES_MASK)}}},
        # the stream search chain at toy scale: DMs to 100, a 1.5 s simulated background, a few realisations
        "search": {"dm_max": 60.0, "min_width_s": 1e-3},
        "candidates": {
            "backgrounds": {
                "parkes": {"path": str(PARKES)},
                "meerkat": {
                    "telescope": "resources/pulsar/meerkat_lband.yaml",
                    "seconds": 0.8,
                    "realisations": {"train": 2, "validation": 2, "test": 1},  # config.yaml's would merge in
                },
            },
            "realisations": {"train": 2, "validation": 2, "test": 1},
            "train": {"epochs": 2, "channels": [4, 8]},
        },
    },
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    if not PARKES.exists():
        pytest.skip("real Parkes file not present")
    return finished_workdir(tmp_path_factory, "pulsar", TINY)


def test_chain_outputs_and_provenance(workdir):
    metrics = json.loads((workdir / "results/pulsar/validate/dt/metrics.json").read_text())
    assert set(metrics["datasets"]) == {"dt", "rfigen", "obs"} and metrics["datasets"]["rfigen"]["in_domain"] is False
    assert metrics["throughput"]["frames_per_s"] > 0 and metrics["throughput"]["real_time_factor"] > 0
    assert (
        metrics["threshold_choice"]["rule"] == "false_alarm"
        and metrics["threshold_choice"]["validation_frames_no_signal"] > 0
    )
    parkes = metrics["observations"]["parkes"]
    assert parkes["frames"] == 4096 // 64 * (832 // 64)  # the real file keeps its own resolution
    assert parkes["flagging_vs_mask"]["f1"] >= 0.9
    record = get_provenance(workdir / "results/pulsar/frames/dt.h5")
    assert record["step"] == "pulsar_convert" and len(record["inputs"]) == 2
    truth = get_provenance(workdir / "results/pulsar/simulate/dt_truth.h5")
    assert truth["seed"] == 42 and truth["config"]["dataset"]["scans"] == 6
    _, meta = load_classifier(workdir / "results/pulsar/models/dt/model.pt")  # the one model-file format
    assert meta["provenance"]["step"] == "pulsar_train" and meta["thresholds"] == pytest.approx(metrics["thresholds"])
    candidates = pd.read_csv(workdir / "results/pulsar/generate/dt/dt_candidates.csv")
    assert list(candidates.columns[:4]) == ["frame", "time_s", "freq_top_mhz", "p_pulse"]
    table = (workdir / "results/pulsar/report/metrics.html").read_text()
    assert "parkes" in table and "rfigen" in table
    search = json.loads((workdir / "results/pulsar/validate/search/metrics.json").read_text())
    assert set(search["backgrounds"]) == {"parkes", "meerkat"} and set(search["observations"]) == {"dt", "parkes"}
    parkes_test = search["backgrounds"]["parkes"]
    assert parkes_test["injections"] > 0 and parkes_test["dm_max_injected"] <= 60
    assert search["observations"]["parkes"]["false_alarms_unseen_range"]["range"] == [0.75, 1.0]
    assert search["observations"]["dt"]["pulses_found"]["search"]["injected"] >= 0
    found = pd.read_csv(workdir / "results/pulsar/search/parkes_candidates.csv")
    assert {"sample", "dm", "width", "snr", "p_pulse", "accepted"} <= set(found.columns)
    assert get_provenance(workdir / "results/pulsar/candidates/parkes/test.h5")["step"] == "pulsar_inject"
    assert "Stream search" in table
    for name in ("simulate_dt", "train_dt", "validate_dt", "inject_parkes", "train_candidates", "search_parkes"):
        assert (workdir / f"benchmarks/pulsar/{name}.tsv").exists() and (workdir / f"logs/pulsar/{name}.log").exists()


def test_nothing_left_to_do_after_a_run(workdir):
    assert planned_jobs(snakemake(workdir, "-n", "--configfile", "tiny.yaml").stdout) == {}


def test_changing_epochs_reruns_training_and_after(workdir):
    jobs = planned_jobs_with(workdir, TINY, ("pulsar", "train", "epochs"), 2, "epochs.yaml")
    assert set(jobs) == {"pulsar_train", "pulsar_generate", "pulsar_validate", "pulsar_report", "all"}


def test_changing_the_candidate_training_reruns_the_search_chain_only(workdir):
    jobs = planned_jobs_with(workdir, TINY, ("pulsar", "candidates", "train", "epochs"), 3, "cand.yaml")
    assert set(jobs) == {"pulsar_train_candidates", "pulsar_search", "pulsar_validate_search", "pulsar_report", "all"}


def test_changing_one_dataset_reruns_only_its_branch(workdir):
    jobs = planned_jobs_with(workdir, TINY, ("pulsar", "datasets", "rfigen", "frames_per_class"), 5, "rfigen.yaml")
    # only the model trained on rfigen retrains (config/config.yaml's models merge in); the dt model stays
    assert jobs["pulsar_simulate"] == 1 and jobs["pulsar_train"] == 1
    assert {"pulsar_convert", "pulsar_preprocess", "pulsar_validate", "pulsar_report"} <= set(jobs)


def test_a_model_override_retrains_that_model_only(workdir):
    override = {"rfigen": {"dedispersion": {"partial_tracks": True}}}  # config/config.yaml turns it off for rfigen
    jobs = planned_jobs_with(workdir, TINY, ("pulsar", "train_by_model"), override, "override.yaml")
    assert jobs["pulsar_train"] == 1 and jobs["pulsar_validate"] == 1 and "pulsar_preprocess" not in jobs


def test_a_new_threshold_rule_is_chosen_without_training_again(workdir):
    """Last in this module: it reruns jobs in the shared working directory."""
    models = ("dt", "rfigen")  # config/config.yaml's models merge in
    history = (workdir / "results/pulsar/models/dt/history.csv").read_text()
    jobs = planned_jobs_with(workdir, TINY, ("pulsar", "train", "pulse_threshold"), {"rule": "accuracy"}, "rule.yaml")
    assert jobs["pulsar_train"] == len(models) and "pulsar_simulate" not in jobs
    # every training reruns (the rule is a train setting); one model's training and validation show what happens
    snakemake(workdir, "results/pulsar/validate/dt/metrics.json", "--cores", "2", "--configfile", "rule.yaml")
    assert "nothing to train" in (workdir / "logs/pulsar/train_dt.log").read_text()
    # the finished run's epochs, restored from the checkpoint (epoch times included)
    assert (workdir / "results/pulsar/models/dt/history.csv").read_text() == history
    metrics = json.loads((workdir / "results/pulsar/validate/dt/metrics.json").read_text())
    assert metrics["threshold_choice"] == {"rule": "accuracy"}
