"""The workflow through a real SLURM cluster with profiles/slurm (start one with scripts/ci/slurm_up.sh).

Jobs go through sbatch on a single-node cluster on localhost whose node advertises fake GPUs; the
cluster keeps no accounting, so status checks use squeue (the profile itself keeps the plugin's sacct
default, which real sites want)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from tests.helpers import REPO, SNAKEFILE, make_workdir
from twins.core.model_file import load_model

pytestmark = pytest.mark.slurm

# Every twin's first steps, plus two GPU trainings: calo_train asks for its GPU the `gres` way and is given a
# one-minute limit it cannot meet (SLURM's SIGTERM -> checkpoint -> the retry with twice the time resumes);
# tpc_train asks the `gpu`/`gpu_model` way.
FIRST_STEPS = {
    "twins": ["calo", "tpc", "lattice", "pulsar", "virgo"],
    "calo": {
        "simulate": {"events": 200, "chunks": 2},
        "models": ["gan3d"],
        "train": {
            "gan3d": {
                "epochs": 120,
                "batch_size": 32,
                "latent_size": 16,
                "generator_channels": [8, 4],
                "discriminator_channels": [4, 8],
            }
        },
    },
    "tpc": {
        "simulate": {"segments": 600, "chunks": 2},
        "train": {"epochs": 1, "batch_size": 32, "latent_size": 4, "generator_hidden": [8], "critic_hidden": [8]},
    },
    "lattice": {
        "run": ["tiny_phi4"],
        "ensembles": {
            "tiny_phi4": {
                "theory": "phi4",
                "shape": [4, 4],
                "couplings": {"form": "hopping", "kappa": 0.25, "lam": 0.5},
                "hmc": {"thermalisation": 50, "n_configs": 200},
            }
        },
    },
    "pulsar": {
        "frames": {"size": 64, "time_downsample": 2, "freq_downsample": 4},
        "datasets": {
            "dt": {"generator": "pulsar_dt", "scans": 2, "scan_seconds": 0.25},
            "rfigen": {"generator": "rfi_gen", "frames_per_class": 4},
        },
        "models": {"dt": "dt"},
        "generate": {"simulated": ["dt"], "real": {}},
    },
    "virgo": {"simulate": {"duration_s": 64, "glitch": {"snr": [40, 60]}}},
}
DATA = [
    "results/calo/showers.h5",
    "results/tpc/segments.h5",
    "results/lattice/hmc/tiny_phi4.h5",
    "results/pulsar/frames/dt.h5",
    "results/pulsar/frames/rfigen.h5",
    "results/virgo/segments.h5",
]
MODELS = ["results/calo/models/gan3d/model.pt", "results/tpc/models/fast4/model.pt"]


def slurm_profile(directory, **changes) -> str:
    """profiles/slurm as shipped, except what a one-node test cluster without accounting needs (status checks
    by squeue soon after submission) and `changes` (profile keys; "set-resources" entries are merged)."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    profile["set-resources"]["calo_train"].update({"mem_mb": "3000 * attempt", "runtime": "30 * attempt"})
    for rule, resources in changes.pop("set_resources", {}).items():
        profile["set-resources"].setdefault(rule, {}).update(resources)
    profile.update(
        {
            "slurm-status-command": "squeue",
            "slurm-init-seconds-before-status-checks": 2,
            "seconds-between-status-checks": 2,
            **changes,
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


def submitted_jobs(output: str) -> dict[str, list[str]]:
    """rule -> SLURM job ids (an array's tasks as <id>_<task>), from Snakemake's submission lines."""
    jobs: dict[str, list[str]] = {}
    for match in re.finditer(r"submitted with SLURM jobid (\d+(?:_\d+)?) \(log: \S*/(?:rule|group)_(\w+)/", output):
        jobs.setdefault(match[2], []).append(match[1])
    return jobs


def planned_total(output: str) -> int:
    return int(re.search(r"^total\s+(\d+)$", output, re.M)[1])


def sbatch_calls(output: str) -> int:
    """How many times Snakemake called sbatch (an array of tasks is one call)."""
    return len(set(re.findall(r"submitted with SLURM jobid (\d+)", output)))


def job_record(job_id: str) -> dict[str, str]:
    """`scontrol show job` as key -> value (the cluster keeps finished jobs for MinJobAge)."""
    text = subprocess.run(["scontrol", "show", "job", str(job_id)], capture_output=True, text=True, timeout=30).stdout
    return dict(re.findall(r"(\S+?)=(\S*)", text))


def datasets(path) -> dict[str, np.ndarray]:
    with h5py.File(path) as f:
        found = {}
        f.visititems(lambda name, obj: found.update({name: obj[()]}) if isinstance(obj, h5py.Dataset) else None)
        return found


class ClusterRun:
    """The first steps of every twin through profiles/slurm, artefacts on "shared" storage (the fs plugin)
    and every job staged through its own node-local scratch folder ($SLURM_JOB_ID inside the job), plus the
    same targets run locally to compare with. Both are started as background processes when the tests are
    collected (tests/slurm/conftest.py), so the minutes the cluster spends on queueing, a one-minute time
    limit and its retry overlap with the rest of the suite; `finish()` waits for them."""

    def __init__(self, root: Path, env: dict) -> None:
        self.root, self.workdir = root, make_workdir(_mkdir(root / "run"), FIRST_STEPS)
        self.local = make_workdir(_mkdir(root / "local"), FIRST_STEPS)
        storage = {
            "default-storage-provider": "fs",
            "default-storage-prefix": str(root / "shared"),
            "local-storage-prefix": str(root / "login-scratch"),
            "remote-job-local-storage-prefix": str(root / "node-scratch" / "$SLURM_JOB_ID"),
            "shared-fs-usage": ["persistence", "software-deployment", "sources", "source-cache"],
            "keep-storage-local-copies": True,  # so the test sees what each job staged
        }
        train = {"runtime": "1 * attempt", "mem_mb": "2000 * attempt", "gpu": 0, "gpu_model": "", "gres": "gpu:fake:1"}
        profile = slurm_profile(
            root / "profile",
            retries=2,  # the one-minute limit: a loaded machine may need a third try
            set_resources={"calo_train": train, "tpc_train": {"mem_mb": "2000 * attempt"}},
            **{"set-threads": {"calo_train": 1}},
            **storage,
        )
        command = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--configfile=tiny.yaml"]
        self.cluster = self._start(self.workdir, [*command, "--profile", profile, *DATA, *MODELS], env)
        self.local_run = self._start(self.local, [*command, "--cores", "1", *DATA], {})

    @staticmethod
    def _start(workdir: Path, command: list[str], env: dict) -> subprocess.Popen:
        # a file, not a pipe: nobody reads the output until the end
        with open(workdir / "snakemake.out", "w") as log:
            return subprocess.Popen(
                [*command, "--directory", str(workdir)],
                cwd=workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
            )

    def finish(self) -> str:
        """Wait for both runs; the cluster run's output."""
        for run in (self.cluster, self.local_run):
            run.wait(timeout=1200)
        output = (self.workdir / "snakemake.out").read_text()
        assert self.local_run.returncode == 0, (self.local / "snakemake.out").read_text()[-4000:]
        assert self.cluster.returncode == 0, output[-6000:]
        return output


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


STARTED: dict[str, ClusterRun] = {}


def start_cluster_run() -> None:
    """Start the cluster run in the background if a SLURM cluster answers (called at collection time)."""
    name = _partition()
    if name is not None and "run" not in STARTED:
        STARTED["run"] = ClusterRun(Path(tempfile.mkdtemp(prefix="twins-cluster-")), site_environment(name))


def site_environment(partition: str) -> dict:
    return {
        "TWINS_SLURM_PARTITION": partition,
        "TWINS_SLURM_ACCOUNT": "twins",
        "TWINS_SLURM_GPU_PARTITION": partition,
        "TWINS_SLURM_GPU_MODEL": "fake",
        # the cluster's GPUs are fake: training on the CPU is chosen on purpose here
        "TWINS_ALLOW_CPU": "1",
    }


@pytest.fixture(scope="module")
def cluster_run(partition):
    start_cluster_run()  # already running when collection started it
    run = STARTED["run"]
    return run.root, run.workdir, run.finish()


def test_every_job_went_through_sbatch_and_the_fan_outs_as_group_jobs(cluster_run):
    _, _, output = cluster_run
    jobs = submitted_jobs(output)
    for rule in ("calo_simulate", "tpc_simulate"):  # the plugin logs a group job under group_<group>_<rules>
        group = f"{rule}_batch_{rule}"
        assert len(jobs.get(group, [])) == 1, f"the two chunks of {rule} took other than one sbatch: {jobs}"
    assert not jobs.get("calo_simulate") and not jobs.get("tpc_simulate")
    for rule in ("calo_convert", "tpc_convert", "lattice_simulate", "lattice_convert", "virgo_convert"):
        assert jobs.get(rule), f"{rule} was not submitted: {jobs}"
    assert len(jobs["pulsar_simulate"]) == 2  # not grouped: two datasets of different kinds
    print(f"sbatch calls: {sbatch_calls(output)} for {planned_total(output)} jobs")


def test_outputs_live_on_shared_storage_and_each_job_staged_through_its_own_scratch(cluster_run):
    root, workdir, _ = cluster_run
    for target in DATA + MODELS:
        assert (root / "shared" / target).stat().st_size > 0, target
    assert not (workdir / "results" / "calo" / "showers.h5").exists()
    job_folders = [folder.name for folder in (root / "node-scratch").iterdir()]
    assert len(job_folders) >= 8 and all(name.replace("_", "").isdigit() for name in job_folders), job_folders


def test_outputs_equal_a_local_run(cluster_run):
    root, _, _ = cluster_run
    local = root / "local"
    for target in DATA:
        a, b = datasets(root / "shared" / target), datasets(local / target)
        assert a.keys() == b.keys(), target
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{target}:{key}")


def test_a_timed_out_training_resumes_from_its_checkpoint_with_more_time(cluster_run):
    root, workdir, output = cluster_run
    attempts = submitted_jobs(output)["calo_train"]
    assert len(attempts) >= 2, f"calo_train did not time out: {attempts}"
    assert "Error in rule calo_train" in output  # each failed try is reported, then resubmitted
    first, last = job_record(attempts[0]), job_record(attempts[-1])
    assert first["JobState"] == "TIMEOUT" and first["TimeLimit"] == "00:01:00"
    assert last["JobState"] == "COMPLETED" and last["TimeLimit"] == f"00:0{len(attempts)}:00"
    log = (root / "shared" / "logs/calo/train_gan3d.log").read_text()
    assert "TrainingInterrupted: stopped by SIGTERM after epoch" in log or "resuming from" in log
    assert re.search(r"resuming from \S*checkpoint.pt after epoch \d+", log), log[-3000:]
    model = load_model(root / "shared" / MODELS[0], "calo", "gan3d", "the slurm run")
    assert model.device["device"] == "cpu"


def test_gres_and_gpu_requests_reach_slurm(cluster_run, partition):
    _, _, output = cluster_run
    jobs = submitted_jobs(output)
    calo = job_record(jobs["calo_train"][-1])
    tpc = job_record(jobs["tpc_train"][0])
    simulate = job_record(jobs["calo_simulate_batch_calo_simulate"][0])  # a group job of two chunks
    assert "gpu:fake:1" in calo.get("TresPerNode", "") + calo.get("TresPerJob", "")  # --gres=gpu:fake:1
    assert calo["CPUs/Task"] == "1" and calo["Partition"] == partition
    assert "gpu:fake:1" in tpc.get("TresPerNode", "") + tpc.get("TresPerJob", "")  # --gpus=fake:1
    assert tpc["MinMemoryNode"] == "2000M"
    assert "gpu" not in simulate.get("TresPerNode", "") + simulate.get("TresPerJob", "")
    # the group's two chunks run side by side: their threads and memory add up, the runtime is one chunk's
    assert simulate["CPUs/Task"] == "2" and simulate["MinMemoryNode"] == "8000M"
    assert simulate["TimeLimit"] == "02:00:00"  # calo_simulate's runtime per_attempt(120), first try
