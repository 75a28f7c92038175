"""The calorimeter chain end to end on a tiny config: outputs, provenance, report, rerun triggers; and external
Geant4 ROOT files in place of the simulation."""

from __future__ import annotations

import copy
import json
import re

import numpy as np
import pytest
import uproot
import yaml

from tests.helpers import REPO, finished_workdir, planned_jobs, snakemake
from twins.calo.io import read_showers_h5
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
    return finished_workdir(tmp_path_factory, "calo", TINY)


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


def test_external_geant4_files_replace_the_simulation(tmp_path):
    """calo.convert.source: external — no simulate job; the chain runs on the imported showers of a grid that is
    not the built-in one (8 x 6 x 10 cells, stored z-major in MeV)."""
    nx, ny, nz, n = 8, 6, 10, 120
    rng = np.random.default_rng(0)
    energy = rng.uniform(10, 100, n)
    depth = np.arange(nz) + 0.5
    profile = depth**2 * np.exp(-depth / 2.0)
    lateral = np.exp(-0.5 * ((np.arange(nx)[:, None] - 3.5) ** 2 + (np.arange(ny)[None] - 2.5) ** 2))
    cells = energy[:, None, None, None] * (profile / profile.sum()) * (lateral / lateral.sum())[None, ..., None]
    stored = (1000.0 * cells * rng.lognormal(0, 0.1, cells.shape)).transpose(0, 3, 1, 2).astype("f4")
    foreign = tmp_path / "g4.root"
    with uproot.recreate(foreign) as f:
        f.mktree("hits", {"edep_mev": ("f4", (nz * nx * ny,)), "e0": "f8"})
        f["hits"].extend({"edep_mev": stored.reshape(n, -1), "e0": energy})
    geometry = {
        "name": "g4_block",
        "material": "PbWO4",
        "materials_file": str(REPO / "resources/calo/materials.yaml"),
        "nx": nx,
        "ny": ny,
        "nz": nz,
        "cell_size_x_mm": 10.0,
        "cell_size_y_mm": 10.0,
        "layer_thickness_mm": 8.9,
    }
    config = {
        "twins": ["calo"],
        "calo": {
            "convert": {
                "source": "external",
                "external": {
                    "files": [str(foreign)],
                    "tree": "hits",
                    "cells_branch": "edep_mev",
                    "cells_shape": [nx, ny, nz],
                    "cells_order": "zxy",
                    "cells_unit": "MeV",
                    "energy_branch": "e0",
                    "geometry": geometry,
                },
            },
            "models": ["gan3d", "caloinn"],
            "train": {
                "gan3d": {
                    "epochs": 1,
                    "batch_size": 16,
                    "latent_size": 8,
                    "generator_channels": [4],
                    "discriminator_channels": [4],
                    "batchnorm_recalibration": 64,
                },
                "caloinn": {"epochs": 1, "batch_size": 16, "blocks": 2, "hidden_features": [8], "bins": 4},
            },
            "validate": {
                "n_bins": 8,
                "classifier": {"nn": {"epochs": 2}},
                "fpd": {"min_samples": 10, "max_samples": 20},
                "kpd": {"batch_size": 10},
            },
        },
    }
    (tmp_path / "config").symlink_to(REPO / "config")
    (tmp_path / "external.yaml").write_text(yaml.safe_dump(config))
    jobs = planned_jobs(snakemake(tmp_path, "-n", "--configfile", "external.yaml").stdout)
    assert "calo_simulate" not in jobs and jobs["calo_convert"] == 1 and jobs["calo_train"] == 2
    # both generators on the foreign grid; one validation shows the metrics take it (each costs ~15 s of test time)
    targets = ["results/calo/generate/caloinn.h5", "results/calo/validate/gan3d/metrics.json"]
    snakemake(tmp_path, *targets, "--cores", "2", "--configfile", "external.yaml")
    showers = read_showers_h5(tmp_path / "results/calo/showers.h5")
    assert showers.cells.shape == (n, nx, ny, nz)
    np.testing.assert_allclose(showers.cells[0], stored[0].transpose(1, 2, 0) / 1000.0, rtol=1e-6)
    for model in ("gan3d", "caloinn"):
        generated = read_showers_h5(tmp_path / f"results/calo/generate/{model}.h5")
        assert generated.cells.shape[1:] == (nx, ny, nz)
    metrics = json.loads((tmp_path / "results/calo/validate/gan3d/metrics.json").read_text())
    assert metrics["summary"]["speed_ratio"] is None  # no simulator timing for external data
