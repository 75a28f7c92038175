"""What profiles/slurm and the storage options do before any job is submitted (no cluster needed)."""

from __future__ import annotations

import os
import re

import pytest
import yaml

from tests.helpers import REPO, planned_jobs, snakemake
from twins.core.workflow import per_attempt, unset_resource_variables

pytestmark = pytest.mark.workflow

PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
SITE = {
    "TWINS_SLURM_PARTITION": "all",  # a Python builtin's name: must reach SLURM as text
    "TWINS_SLURM_ACCOUNT": "",
    "TWINS_SLURM_GPU_PARTITION": "gpu",
    "TWINS_SLURM_GPU_MODEL": "a100",
}


def without_site_variables() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("TWINS_SLURM_")}


def dry_run(*args, env):
    # the slurm executor only plans in a dry-run: nothing is submitted
    return snakemake(
        None, "-n", "--profile", "profiles/slurm", "--config", 'twins=["tpc"]', *args, check=False, env=env
    )


def test_an_unset_site_variable_stops_the_run_before_any_job_naming_it(monkeypatch):
    monkeypatch.setattr(os, "environ", without_site_variables())
    result = dry_run(env={"TWINS_SLURM_PARTITION": "cpu"})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "unset environment variables: $TWINS_SLURM_ACCOUNT in default-resources.slurm_account;" in output
    assert "$TWINS_SLURM_GPU_MODEL in set-resources.calo_train.gpu_model" in output
    assert "$TWINS_SLURM_PARTITION in" not in output
    assert "export TWINS_SLURM_GPU_MODEL=" in output and "slurm-no-account" in output
    assert "Job stats" not in output


def test_set_values_reach_the_jobs_as_text_and_empty_ones_are_left_out():
    result = dry_run(env=SITE)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    train = output[output.index("rule tpc_train:") :].split("\n\n")[0]
    assert "slurm_partition=gpu" in train and "gpu_model=a100" in train and "slurm_account=," in train
    simulate = output[output.index("rule tpc_simulate:") :].split("\n\n")[0]
    assert "slurm_partition=all," in simulate  # not <built-in function all>


def test_runtime_and_memory_grow_with_each_try():
    profile = yaml.safe_load(PROFILE.read_text())
    for rule, resources in profile["set-resources"].items():
        for name in ("runtime", "mem_mb"):
            assert re.fullmatch(r"\d+ \* attempt", str(resources[name])), f"{rule}.{name}: {resources[name]}"
    grows = per_attempt(720)
    assert [grows(None, attempt) for attempt in (1, 2, 3)] == [720, 1440, 2160]
    rules = "".join(path.read_text() for path in (REPO / "workflow" / "rules").glob("*.smk"))
    assert not re.search(r"^\s+(runtime|mem_mb)=\d", rules, re.M), "a fixed runtime/mem_mb would not grow"


def test_unset_variables_are_found_in_any_resource_text():
    resources = [
        ("default-resources", "slurm_partition", "'$A'"),
        ("set-resources.x", "gpu_model", "${B}"),
        ("d", "n", 3),
    ]
    assert unset_resource_variables(resources, {"A": "cpu"}) == [("set-resources.x", "gpu_model", "B")]


def test_every_twin_plans_with_shared_storage_and_no_job_runs_on_the_login_node(tmp_path):
    """Under the fs storage provider, inputs of the checkout and the user come from where they are (no
    MissingInputException in any twin), and no job is forced onto the login node by a local() file."""
    storage = (
        "--default-storage-provider",
        "fs",
        "--default-storage-prefix",
        str(tmp_path / "shared"),
        "--local-storage-prefix",
        str(tmp_path / "scratch"),
        "--shared-fs-usage",
        "persistence",
        "software-deployment",
        "sources",
        "source-cache",
    )
    result = snakemake(None, "-n", *storage, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    jobs = planned_jobs(output)
    for twin in ("calo", "tpc", "lattice", "pulsar", "virgo"):
        assert jobs.get(f"{twin}_simulate"), f"{twin}: {jobs}"
    assert "resources/tpc/mpd_padrow.yaml (retrieve from storage)" in output.replace(str(REPO) + "/", "")
    rules = "".join(path.read_text() for path in (REPO / "workflow" / "rules").glob("*.smk"))
    assert not re.search(r"=\s*local\(", rules), "a local() input runs its jobs on the login node"


def test_chunk_files_go_once_converted_when_not_kept(tmp_path):
    """keep_chunk_files: false deletes the per-chunk ROOT files (and calo's chunk timings) once converted; the
    gathered timings stay for validation."""
    from tests.helpers import make_workdir

    config = {
        "twins": ["calo", "tpc"],
        "keep_chunk_files": False,
        "calo": {"simulate": {"events": 40, "chunks": 2}},
        "tpc": {"simulate": {"segments": 200, "chunks": 2}},
    }
    workdir = make_workdir(tmp_path, config)
    targets = ("results/calo/showers.h5", "results/tpc/segments.h5")
    snakemake(workdir, *targets, "--cores", "2", "--configfile", "tiny.yaml")
    assert sorted(p.name for p in (workdir / "results/calo/simulate").iterdir()) == ["timing.json"]
    assert sorted(p.name for p in (workdir / "results/tpc/simulate").iterdir()) == ["chunk_0.json", "chunk_1.json"]
    assert [t["showers"] for t in yaml.safe_load((workdir / "results/calo/simulate/timing.json").read_text())] == [
        20,
        20,
    ]
