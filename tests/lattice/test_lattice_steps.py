"""Step functions outside Snakemake: reproducible HMC files, config helpers, the HDF5 layout."""

import json

import numpy as np
import pytest

from twins.lattice.io import read_ensemble
from twins.lattice.steps import convert, simulate
from twins.lattice.workflow import ensemble_slice, ensembles_to_run

SPEC = {
    "theory": "phi4",
    "shape": [4, 4],
    "couplings": {"form": "hopping", "kappa": 0.25, "lam": 0.5},
    "hmc": {
        "integrator": "leapfrog",
        "trajectory_length": 1.0,
        "target_acceptance": 0.8,
        "initial_step_size": 0.1,
        "thermalisation": 20,
        "n_configs": 30,
        "thinning": 2,
    },
}


def test_same_seed_same_hmc_chain_and_documented_layout(tmp_path):
    for run in ("a", "b"):
        simulate("e", SPEC, 42, tmp_path / f"{run}.npz", tmp_path / f"{run}.json")
    np.testing.assert_array_equal(np.load(tmp_path / "a.npz")["configs"], np.load(tmp_path / "b.npz")["configs"])
    timing = json.loads((tmp_path / "a.json").read_text())
    assert 0 <= timing["acceptance"] <= 1 and timing["creutz"]["n"] == 60
    convert("e", SPEC, 42, tmp_path / "a.npz", tmp_path / "a.h5")
    ensemble = read_ensemble(tmp_path / "a.h5")
    assert ensemble.configs.shape == (30, 4, 4) and list(ensemble.trajectory[:2]) == [2, 4]
    assert ensemble.attrs["algorithm"] == "hmc-leapfrog" and ensemble.attrs["couplings_hopping"]["kappa"] == 0.25


def test_config_helpers_slice_and_name_unknown_ensembles():
    lattice = {"run": ["e"], "ensembles": {"e": {**SPEC, "flow": {"epochs": 1}, "nfmcmc": {}}}}
    assert ensembles_to_run(lattice) == ["e"]
    assert set(ensemble_slice(lattice, "e", "train")) == {"theory", "shape", "couplings", "flow"}
    with pytest.raises(ValueError, match="nope"):
        ensembles_to_run({**lattice, "run": ["nope"]})
