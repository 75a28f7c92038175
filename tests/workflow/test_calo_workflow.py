"""The calorimeter chain end to end on a tiny config: outputs, provenance, report, rerun triggers."""

from __future__ import annotations

import copy
import json
import re

import numpy as np
import pytest
import uproot
import yaml

from tests.helpers import make_workdir, planned_jobs, snakemake
from twins.calo.hdf5io import read_showers_h5
from twins.core.io import get_provenance

pytestmark = pytest.mark.workflow

TINY = {
    "twins": ["calo"],
    "calo": {
        "simulate": {"events": 200, "chunks": 2},
        "models": ["gan3d", "caloinn"],
        "train": {
            "gan3d": {
                "epochs": 2,
                "batch_size": 32,
                "latent_size": 16,
                "generator_channels": [8, 4],
                "discriminator_channels": [4, 8],
            },
            "caloinn": {"epochs": 2, "batch_size": 32, "blocks": 2, "hidden_features": [16], "bins": 4},
        },
        "validate": {"n_bins": 10, "energy_bins_gev": [10, 40, 70, 100]},
    },
}
CHAIN_AFTER_TRAINING = {"calo_train", "calo_generate", "calo_validate", "calo_report", "all"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Run the whole calo chain once for every test in this module."""
    path = make_workdir(tmp_path_factory.mktemp("calo"), TINY)
    snakemake(path, "--cores", "2", "--configfile", "tiny.yaml")
    return path


def dry_run_with(workdir, overrides, name):
    config = copy.deepcopy(TINY)
    for keys, value in overrides:
        node = config
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    (workdir / name).write_text(yaml.safe_dump(config))
    return planned_jobs(snakemake(workdir, "-n", "--configfile", name).stdout)


@pytest.mark.parametrize("model", ["gan3d", "caloinn"])
def test_chain_writes_every_output_with_provenance(workdir, model):
    metrics = json.loads((workdir / f"results/calo/validate/{model}/metrics.json").read_text())
    summary = metrics["summary"]
    assert 0 <= summary["separation_power_e_ratio"] <= 1
    assert 0 <= summary["classifier_auc"] <= 1
    assert summary["speed_ratio"] > 0
    for key in ("classifier_auc_low_level", "classifier_auc_high_level", "classifier_auc_floor", "fpd", "fpd_floor"):
        assert summary[key] is not None, key
    assert len(metrics["per_energy_bin"]) == 3
    generated = read_showers_h5(workdir / f"results/calo/generate/{model}.h5")
    reference = read_showers_h5(workdir / "results/calo/preprocess/test.h5")
    assert generated.cells.shape == reference.cells.shape and generated.cells.min() >= 0
    np.testing.assert_array_equal(generated.energy, reference.energy)
    record = get_provenance(workdir / "results/calo/showers.h5")
    assert record["step"] == "calo_convert" and len(record["inputs"]) == 2
    assert {u["chunk"] for u in record["upstream"]} == {0, 1}
    assert record["code"]["git_commit"]
    with uproot.open(workdir / "results/calo/simulate/chunk_0.root") as f:
        root_record = json.loads(str(f["provenance"]))
    assert root_record["config"]["events"] == 200 and root_record["master_seed"] == 42
    table = (workdir / "results/calo/report/metrics.html").read_text()
    assert table.count("<tr") > 5 and "caloinn" in table and "gan3d" in table
    for name in ("simulate_0", f"train_{model}", f"validate_{model}"):
        assert (workdir / f"logs/calo/{name}.log").exists()
    for name in (f"train_{model}", f"validate_{model}"):
        assert (workdir / f"benchmarks/calo/{name}.tsv").exists()
    # the cached simulation has no Snakemake benchmark; its timing file records the wall time
    assert json.loads((workdir / "results/calo/simulate/chunk_0.json").read_text())["seconds"] > 0


def test_nothing_left_to_do_after_a_run(workdir):
    assert planned_jobs(snakemake(workdir, "-n", "--configfile", "tiny.yaml").stdout) == {}


def test_changing_epochs_reruns_only_training_and_after(workdir):
    jobs = dry_run_with(workdir, [(("calo", "train", "gan3d", "epochs"), 3)], "epochs.yaml")
    assert set(jobs) == CHAIN_AFTER_TRAINING
    assert jobs["calo_train"] == jobs["calo_generate"] == jobs["calo_validate"] == 1  # CaloINN untouched


def test_changing_events_reruns_everything_from_simulation(workdir):
    jobs = dry_run_with(workdir, [(("calo", "simulate", "events"), 300)], "events.yaml")
    assert jobs["calo_simulate"] == 2
    assert {"calo_convert", "calo_preprocess"} | CHAIN_AFTER_TRAINING <= set(jobs)


def test_changing_caloinn_temperature_regenerates_only_caloinn(workdir):
    jobs = dry_run_with(workdir, [(("calo", "generate", "caloinn", "temperature"), 0.9)], "temperature.yaml")
    assert jobs == {"calo_generate": 1, "calo_validate": 1, "calo_report": 1, "all": 1}


def test_changing_validation_bins_reruns_only_validation(workdir):
    jobs = dry_run_with(workdir, [(("calo", "validate", "n_bins"), 12)], "bins.yaml")
    assert set(jobs) == {"calo_validate", "calo_report", "all"}


def test_same_seed_gives_identical_simulation(workdir):
    path = workdir / "results/calo/simulate/chunk_0.root"
    with uproot.open(path) as f:
        before = f["showers"].arrays(library="np")
        before_record = str(f["provenance"])
    snakemake(
        workdir,
        "--cores",
        "1",
        "--configfile",
        "tiny.yaml",
        "--forcerun",
        "calo_simulate",
        "--until",
        "calo_simulate",
        str(path.relative_to(workdir)),
    )
    with uproot.open(path) as f:
        after = f["showers"].arrays(library="np")
        assert str(f["provenance"]) == before_record
    for branch in ("cells", "energy", "theta", "pdg"):
        np.testing.assert_array_equal(before[branch], after[branch])


def test_report_is_self_contained_with_every_figure(workdir):
    snakemake(workdir, "--configfile", "tiny.yaml", "--report", "report.html")
    html = (workdir / "report.html").read_text()
    assert "Calorimeter" in html
    for name in (
        "e_ratio",
        "longitudinal_profile",
        "radial_profile",
        "average_shower",
        "losses",
        "metrics",
        "e_ratio_per_energy_bin",
    ):
        assert re.search(rf"{name}\.(png|html)", html), f"{name} missing from the report"
