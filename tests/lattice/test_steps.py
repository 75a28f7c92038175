"""Step functions outside Snakemake: reproducible HMC files in the documented layout; generate, validate and
report on a trained flow."""

import json

import numpy as np
import pytest

from tests.lattice.lattice_samples import HMC_SPEC, U1_FLOW_SPEC
from twins.core.config import resolve
from twins.core.io import InputFileError
from twins.lattice import steps
from twins.lattice.io import read_ensemble, read_hmc_chain
from twins.lattice.theories import ENSEMBLE_KEY


def simulate(path, name):
    steps.simulate(
        {},
        {"chain": str(path / f"{name}.npz"), "timing": str(path / f"{name}.json")},
        {"spec": HMC_SPEC, "seed": 42, "ensemble": "e"},
    )


def test_same_seed_same_hmc_chain_and_documented_layout(tmp_path):
    for run in ("a", "b"):
        simulate(tmp_path, run)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npz")["configs"], np.load(tmp_path / "b.npz")["configs"])
    timing = json.loads((tmp_path / "a.json").read_text())
    assert 0 <= timing["acceptance"] <= 1 and timing["creutz"]["n"] == 60
    steps.convert(
        {"chain": str(tmp_path / "a.npz")},
        {"ensemble": str(tmp_path / "a.h5")},
        {"spec": HMC_SPEC, "seed": 42, "ensemble": "e"},
    )
    ensemble = read_ensemble(tmp_path / "a.h5")
    assert ensemble.configs.shape == (30, 4, 4) and list(ensemble.trajectory[:2]) == [2, 4]
    assert ensemble.attrs["algorithm"] == "hmc-leapfrog" and ensemble.attrs["couplings_hopping"]["kappa"] == 0.25


def test_a_broken_chain_file_names_the_rule_to_rerun(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputFileError, match="lattice_simulate"):
        read_hmc_chain(tmp_path / "bad.npz")
    np.savez(tmp_path / "short.npz", configs=np.zeros(3))
    with pytest.raises(InputFileError, match="trajectory"):
        read_hmc_chain(tmp_path / "short.npz")


def test_generate_validate_and_report_steps(trained_u1, tmp_path):
    # the whole entry as the workflow hands it over: the schema's defaults filled in
    entry = {
        **U1_FLOW_SPEC,
        "hmc": {"thermalisation": 20, "n_configs": 40},
        "nfmcmc": {"n_configs": 40, "batch_size": 20},
    }
    spec = resolve(ENSEMBLE_KEY, entry)
    physics = {k: spec[k] for k in ("theory", "shape", "couplings")}
    f = {name: str(tmp_path / name) for name in ("chain.npz", "sim.json", "hmc.h5", "obs.json", "nf.h5", "gen.json")}
    common = {"seed": 1, "ensemble": "u1"}
    steps.simulate({}, {"chain": f["chain.npz"], "timing": f["sim.json"]}, {"spec": spec, **common})
    steps.convert({"chain": f["chain.npz"]}, {"ensemble": f["hmc.h5"]}, {"spec": spec, **common})
    steps.preprocess({"ensemble": f["hmc.h5"]}, {"observables": f["obs.json"]}, {"spec": physics, "ensemble": "u1"})
    steps.generate(
        {"model": str(trained_u1)}, {"ensemble": f["nf.h5"], "timing": f["gen.json"]}, {"spec": spec, **common}
    )
    validation = {"hmc": f["hmc.h5"], "nfmcmc": f["nf.h5"], "observables": f["obs.json"]}
    validation |= {"simulate_timing": f["sim.json"], "generate_timing": f["gen.json"]}
    outputs = {"summary": str(tmp_path / "v.json"), "histogram": str(tmp_path / "v.png")}
    steps.validate(validation, outputs, {"spec": physics, "ensemble": "u1"})
    result = json.loads((tmp_path / "v.json").read_text())
    assert [r["observable"] for r in result["observables"]] == ["plaquette", "q", "chi_t"]
    assert result["summary"]["q_integer"] and 0 <= result["summary"]["nf_acceptance"] <= 1
    report = {"table": tmp_path / "r.html", "cost": tmp_path / "r.csv", "acceptance": tmp_path / "r.png"}
    steps.report({"summaries": [outputs["summary"]]}, {k: str(v) for k, v in report.items()}, {"run": ["u1"]})
    assert "chi_t" in report["table"].read_text() and report["acceptance"].stat().st_size > 0
    assert "cost_nf" in report["cost"].read_text().splitlines()[0]
