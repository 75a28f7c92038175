"""The workflow through a real SLURM cluster with profiles/slurm (start one with scripts/ci/slurm_up.sh).

Jobs go through sbatch on a single-node cluster on localhost whose node advertises fake GPUs; the
cluster keeps no accounting, so status checks use squeue (the profile itself keeps the plugin's sacct
default, which real sites want)."""

from __future__ import annotations

import re
import shutil
import subprocess

import h5py
import numpy as np
import pytest
import torch
import yaml

from tests.helpers import REPO, make_workdir, snakemake
from twins.core.model_file import load_model

pytestmark = pytest.mark.slurm

TARGET = "results/calo/models/gan3d/model.pt"
TINY = {
    "twins": ["calo"],
    "calo": {
        "simulate": {"events": 200, "chunks": 2},
        "models": ["gan3d"],
        "train": {
            "gan3d": {
                "epochs": 1,
                "batch_size": 32,
                "latent_size": 16,
                "generator_channels": [8, 4],
                "discriminator_channels": [4, 8],
            }
        },
    },
}


def slurm_profile(directory) -> str:
    """profiles/slurm as shipped, except what a one-node test cluster without accounting needs: status
    checks by squeue soon after submission, and the training memory/runtime cut to fit the node."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    profile["set-resources"]["calo_train"].update({"mem_mb": 3000, "runtime": 30})
    profile.update(
        {
            "slurm-status-command": "squeue",
            "slurm-init-seconds-before-status-checks": 2,
            "seconds-between-status-checks": 2,
        }
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(yaml.safe_dump(profile))
    return str(directory)


def _partition() -> str | None:
    if shutil.which("sinfo") is None:
        return None
    result = subprocess.run(["sinfo", "-h", "-o", "%P %T"], capture_output=True, text=True, timeout=30)
    for line in result.stdout.splitlines():
        name, state = line.split()
        if state == "idle" or state == "mixed":
            return name.rstrip("*")
    return None


@pytest.fixture(scope="module")
def partition():
    name = _partition()
    if name is None:
        pytest.skip("no SLURM cluster answers (start one as root with scripts/ci/slurm_up.sh)")
    return name


@pytest.fixture(scope="module")
def slurm_env(partition):
    return {
        "TWINS_SLURM_PARTITION": partition,
        "TWINS_SLURM_ACCOUNT": "twins",
        "TWINS_SLURM_GPU_PARTITION": partition,
        "TWINS_SLURM_GPU_MODEL": "fake",
    }


def submitted_jobs(output: str) -> dict[str, list[int]]:
    """rule -> SLURM job ids, from Snakemake's 'submitted with SLURM jobid' lines."""
    jobs: dict[str, list[int]] = {}
    for match in re.finditer(r"submitted with SLURM jobid (\d+) \(log: \S*/rule_(\w+)/", output):
        jobs.setdefault(match[2], []).append(int(match[1]))
    return jobs


def job_record(job_id: int) -> dict[str, str]:
    """`scontrol show job` as key -> value (the cluster keeps finished jobs for MinJobAge)."""
    text = subprocess.run(["scontrol", "show", "job", str(job_id)], capture_output=True, text=True, timeout=30).stdout
    return dict(re.findall(r"(\S+?)=(\S*)", text))


@pytest.fixture(scope="module")
def slurm_run(tmp_path_factory, slurm_env):
    workdir = make_workdir(tmp_path_factory.mktemp("slurm"), TINY)
    profile = slurm_profile(tmp_path_factory.mktemp("profile"))
    result = snakemake(workdir, TARGET, "--profile", profile, "--configfile", "tiny.yaml", env=slurm_env)
    return workdir, result.stdout + result.stderr


def test_every_job_went_through_sbatch(slurm_run):
    _, output = slurm_run
    jobs = submitted_jobs(output)
    assert len(jobs.get("calo_simulate", [])) == 2  # the chunk fan-out: one SLURM job per chunk
    for rule in ("calo_convert", "calo_preprocess", "calo_train"):
        assert len(jobs.get(rule, [])) == 1, f"{rule} was not submitted: {jobs}"


def test_threads_memory_runtime_and_gpus_reach_slurm(slurm_run, partition):
    _, output = slurm_run
    jobs = submitted_jobs(output)
    simulate = job_record(jobs["calo_simulate"][0])
    assert simulate["JobState"] == "COMPLETED" and simulate["Partition"] == partition
    assert simulate["CPUs/Task"] == "1" and simulate["MinMemoryNode"] == "4000M"
    assert simulate["TimeLimit"] == "02:00:00"  # calo_simulate's runtime=120 (minutes)
    train = job_record(jobs["calo_train"][0])
    assert train["JobState"] == "COMPLETED"
    assert train["CPUs/Task"] == "2"  # threads: 2 became --cpus-per-task
    assert train["MinMemoryNode"] == "3000M" and train["TimeLimit"] == "00:30:00"
    assert "gpu:fake:1" in train.get("TresPerNode", "") + train.get("TresPerJob", "")
    assert "gpu" not in simulate.get("TresPerNode", "") + simulate.get("TresPerJob", "")


def test_outputs_equal_a_local_run_with_the_same_seed(slurm_run, tmp_path):
    slurm_dir, _ = slurm_run
    local_dir = make_workdir(tmp_path, TINY)
    snakemake(local_dir, TARGET, "--cores", "2", "--configfile", "tiny.yaml")
    for name in ("train.h5", "validation.h5", "test.h5"):
        with (
            h5py.File(slurm_dir / "results/calo/preprocess" / name) as a,
            h5py.File(local_dir / "results/calo/preprocess" / name) as b,
        ):
            assert set(a) == set(b)
            for key in a:
                np.testing.assert_array_equal(a[key][()], b[key][()], err_msg=f"{name}:{key}")
    slurm_model = load_model(slurm_dir / TARGET, "calo", "gan3d", "the slurm run").weights["generator"]
    local_model = load_model(local_dir / TARGET, "calo", "gan3d", "the local run").weights["generator"]
    assert slurm_model.keys() == local_model.keys()
    for key, value in local_model.items():
        torch.testing.assert_close(slurm_model[key], value, rtol=0, atol=0, msg=key)


def test_a_failing_job_is_reported_and_retried_per_the_profile(tmp_path, slurm_env):
    """A broken input file makes calo_convert fail inside its SLURM job: the run fails, naming the rule,
    after the profile's retries (each attempt its own sbatch)."""
    retries = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())["retries"]
    broken = tmp_path / "broken.root"
    broken.write_bytes(b"not a ROOT file" * 100)
    config = {
        "twins": ["calo"],
        "calo": {
            "convert": {
                "source": "external",
                "external": {
                    "files": [str(broken)],
                    "tree": "hits",
                    "cells_branch": "edep",
                    "cells_shape": [4, 4, 6],
                    "cells_order": "xyz",
                    "cells_unit": "GeV",
                    "energy_branch": "e0",
                    "geometry": {
                        "name": "block",
                        "material": "PbWO4",
                        "materials_file": str(REPO / "resources/calo/materials.yaml"),
                        "nx": 4,
                        "ny": 4,
                        "nz": 6,
                        "cell_size_x_mm": 10.0,
                        "cell_size_y_mm": 10.0,
                        "layer_thickness_mm": 8.9,
                    },
                },
            }
        },
    }
    (tmp_path / "run").mkdir()
    workdir = make_workdir(tmp_path / "run", config)
    result = snakemake(
        workdir,
        "results/calo/showers.h5",
        "--profile",
        slurm_profile(tmp_path / "profile"),
        "--configfile",
        "tiny.yaml",
        env=slurm_env,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Error in rule calo_convert" in output
    assert len(submitted_jobs(output).get("calo_convert", [])) == 1 + retries
    assert not (workdir / "results/calo/showers.h5").exists()
    assert "broken.root" in (workdir / "logs/calo/convert.log").read_text()
