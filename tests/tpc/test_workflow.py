"""The TPC chain end to end on a tiny config: outputs, provenance, report, rerun triggers."""

from __future__ import annotations

import json
import re

import pytest
import uproot

from tests.helpers import finished_workdir, planned_jobs, planned_jobs_with, snakemake
from twins.core.io import get_provenance

pytestmark = pytest.mark.workflow

TINY = {
    "twins": ["tpc"],
    "tpc": {
        "simulate": {"segments": 600, "chunks": 2},
        "train": {"epochs": 1, "batch_size": 32, "latent_size": 4, "generator_hidden": [8], "critic_hidden": [8]},
        "validate": {"n_bins": 3, "n_examples": 2},
    },
}
AFTER_TRAINING = {"tpc_train", "tpc_generate", "tpc_validate", "tpc_report", "all"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return finished_workdir(tmp_path_factory, "tpc", TINY)


def test_chain_writes_outputs_with_provenance(workdir):
    for variant in ("fast4", "fast6"):
        summary = json.loads((workdir / f"results/tpc/validate/{variant}/metrics.json").read_text())["summary"]
        assert summary["speed_ratio"] > 0 and summary["chi2_ndf_all_conditions"] > 0
        assert (workdir / f"benchmarks/tpc/train_{variant}.tsv").exists()
        assert (workdir / f"logs/tpc/validate_{variant}.log").exists()
    record = get_provenance(workdir / "results/tpc/preprocess/test.h5")
    assert record["step"] == "tpc_preprocess" and record["upstream"]["step"] == "tpc_convert"
    assert {u["chunk"] for u in record["upstream"]["upstream"]} == {0, 1}
    with uproot.open(workdir / "results/tpc/simulate/chunk_1.root") as f:
        assert json.loads(str(f["provenance"]))["config"]["segments"] == 600
        assert f["segments"].num_entries == 300
    table = (workdir / "results/tpc/report/chi2.html").read_text()
    assert "fast4" in table and "fast6" in table and "simulation floor" in table


def test_nothing_left_to_do_and_reruns_are_exact(workdir):
    assert planned_jobs(snakemake(workdir, "-n", "--configfile", "tiny.yaml").stdout) == {}
    assert set(planned_jobs_with(workdir, TINY, ("tpc", "train", "epochs"), 2, "e.yaml")) == AFTER_TRAINING
    assert set(planned_jobs_with(workdir, TINY, ("tpc", "validate", "n_bins"), 4, "b.yaml")) == {
        "tpc_validate",
        "tpc_report",
        "all",
    }
    jobs = planned_jobs_with(workdir, TINY, ("tpc", "simulate", "segments"), 700, "s.yaml")
    assert jobs["tpc_simulate"] == 2 and {"tpc_convert", "tpc_preprocess"} | AFTER_TRAINING <= set(jobs)


def test_bad_config_names_the_key(workdir):
    (workdir / "bad.yaml").write_text("twins: [tpc]\ntpc:\n  train:\n    n_critic: 0\n")
    result = snakemake(workdir, "-n", "--configfile", "bad.yaml", check=False)
    assert result.returncode != 0 and "tpc.train.n_critic" in result.stdout + result.stderr


def test_report_holds_every_figure(workdir):
    snakemake(workdir, "--configfile", "tiny.yaml", "--report", "report.html")
    html = (workdir / "report.html").read_text()
    for name in ("profiles", "moments", "examples", "losses", "comparison", "chi2"):
        assert re.search(rf"{name}\.(png|html)", html), f"{name} missing from the report"
