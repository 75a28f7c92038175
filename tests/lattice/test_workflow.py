"""The lattice chain end to end on a tiny config: outputs, HDF5 layout, provenance, rerun triggers."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from tests.helpers import finished_workdir, planned_jobs, planned_jobs_with, snakemake
from twins.core.io import get_provenance
from twins.core.model_file import load_model
from twins.lattice.io import read_ensemble

pytestmark = pytest.mark.workflow

TINY_FLOW = {"layers": 2, "hidden": [4], "epochs": 2, "steps_per_epoch": 3, "batch_size": 8, "ess_samples": 16}
TINY = {
    "twins": ["lattice"],
    "lattice": {
        "run": ["tiny_phi4", "tiny_u1"],
        "ensembles": {
            "tiny_phi4": {
                "theory": "phi4",
                "shape": [4, 4],
                "couplings": {"form": "hopping", "kappa": 0.25, "lam": 0.5},
                "hmc": {"thermalisation": 50, "n_configs": 200},
                "flow": dict(TINY_FLOW),
                "nfmcmc": {"n_configs": 100, "batch_size": 50},
            },
            "tiny_u1": {
                "theory": "u1",
                "shape": [4, 4],
                "couplings": {"beta": 1.0},
                "hmc": {"thermalisation": 50, "n_configs": 200},
                "flow": dict(TINY_FLOW),
                "nfmcmc": {"n_configs": 100, "batch_size": 50},
            },
        },
    },
}
AFTER_TRAINING = {"lattice_train", "lattice_generate", "lattice_validate", "lattice_report", "all"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return finished_workdir(tmp_path_factory, "lattice", TINY)


def test_chain_writes_ensembles_observables_and_report(workdir):
    hmc = read_ensemble(workdir / "results/lattice/hmc/tiny_phi4.h5")
    assert hmc.configs.shape == (200, 4, 4) and hmc.attrs["algorithm"] == "hmc-omelyan"
    assert hmc.attrs["couplings_albergo"]["m2"] == pytest.approx(-4.0)
    model = load_model(workdir / "results/lattice/models/tiny_u1/model.pt", "lattice", "u1", "rule lattice_train")
    assert model.meta["spec"]["flow"]["layers"] == 2 and model.meta["provenance"]["step"] == "lattice_train"
    nf = read_ensemble(workdir / "results/lattice/nfmcmc/tiny_u1.h5")
    assert nf.configs.shape == (100, 2, 4, 4) and nf.attrs["algorithm"] == "nf-mcmc"
    with h5py.File(workdir / "results/lattice/hmc/tiny_u1.h5") as f:  # the layout, read without our code
        assert f["configs"].dtype == np.float64 and f.attrs["theory"] == "u1"
    record = get_provenance(workdir / "results/lattice/nfmcmc/tiny_phi4.h5")
    assert record["step"] == "lattice_generate" and record["config"]["nfmcmc"]["n_configs"] == 100
    assert len(record["inputs"]) == 1 and record["code"]["git_commit"]
    summary = json.loads((workdir / "results/lattice/validate/tiny_u1.json").read_text())
    rows = {r["observable"]: r for r in summary["observables"]}
    assert "exact" in rows["plaquette"] and "pull_hmc_exact" in rows["chi_t"]
    assert summary["summary"]["q_integer"] and summary["summary"]["cost_nf"] > 0
    table = (workdir / "results/lattice/report/summary.html").read_text()
    assert "tiny_phi4" in table and "tiny_u1" in table and "chi2" in table
    for name in ("simulate_tiny_phi4", "train_tiny_u1", "report"):
        assert (workdir / f"benchmarks/lattice/{name}.tsv").exists()
        assert (workdir / f"logs/lattice/{name}.log").exists()


def test_nothing_left_to_do_after_a_run(workdir):
    assert planned_jobs(snakemake(workdir, "-n", "--configfile", "tiny.yaml").stdout) == {}


def test_changing_the_flow_reruns_only_that_ensemble_from_training(workdir):
    jobs = planned_jobs_with(workdir, TINY, ("lattice", "ensembles", "tiny_u1", "flow", "epochs"), 3, "flow.yaml")
    assert set(jobs) == AFTER_TRAINING and jobs["lattice_train"] == 1


def test_changing_hmc_reruns_simulation_not_training(workdir):
    jobs = planned_jobs_with(workdir, TINY, ("lattice", "ensembles", "tiny_phi4", "hmc", "n_configs"), 300, "hmc.yaml")
    assert jobs["lattice_simulate"] == 1 and "lattice_train" not in jobs
