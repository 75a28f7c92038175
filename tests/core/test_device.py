"""A job that holds GPUs but whose torch sees none stops at once, unless the CPU is chosen on purpose."""

from __future__ import annotations

import pytest
import torch

from twins.core import device as device_module
from twins.core.device import DeviceError, describe, granted_gpus, select_device
from twins.core.model_file import load_model, save_model

GPU_VARIABLES = ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_GPUS_ON_NODE", "CUDA_VISIBLE_DEVICES", "TWINS_ALLOW_CPU")


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in GPU_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_granted_gpus_reads_slurm_and_cuda_variables():
    assert granted_gpus({}) == {}
    assert granted_gpus({"CUDA_VISIBLE_DEVICES": "", "SLURM_GPUS_ON_NODE": "0"}) == {}
    assert granted_gpus({"CUDA_VISIBLE_DEVICES": "-1", "SLURM_JOB_GPUS": "NoDevFiles"}) == {}
    assert granted_gpus({"SLURM_JOB_GPUS": "0,1", "OTHER": "x"}) == {"SLURM_JOB_GPUS": "0,1"}
    assert granted_gpus({"CUDA_VISIBLE_DEVICES": "0"}) == {"CUDA_VISIBLE_DEVICES": "0"}


def test_auto_without_gpus_takes_the_cpu(no_cuda):
    assert select_device("auto") == torch.device("cpu")


def test_auto_in_a_gpu_job_without_cuda_fails_naming_the_cause(no_cuda):
    no_cuda.setenv("SLURM_JOB_GPUS", "0")
    no_cuda.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(DeviceError) as err:
        select_device("auto")
    message = str(err.value)
    assert "SLURM_JOB_GPUS=0" in message and "sees no CUDA device" in message
    assert "pytorch-gpu" in message and "device: cpu" in message and "TWINS_ALLOW_CPU=1" in message


def test_the_cpu_chosen_on_purpose_runs_in_a_gpu_job(no_cuda):
    no_cuda.setenv("SLURM_JOB_GPUS", "0")
    assert select_device("cpu") == torch.device("cpu")
    no_cuda.setenv(device_module.ALLOW_CPU_VARIABLE, "1")
    assert select_device("auto") == torch.device("cpu")


def test_cuda_asked_for_without_cuda_fails(no_cuda):
    with pytest.raises(DeviceError, match="cuda:1"):
        select_device("cuda:1")


def test_the_device_is_logged_and_recorded_in_the_model_file(no_cuda, tmp_path, caplog):
    caplog.set_level("INFO", logger="twins.core.device")
    chosen = select_device("auto")
    assert "torch device: {'device': 'cpu'" in caplog.text
    path = save_model(tmp_path / "model.pt", "calo", "toy", {"net": torch.nn.Linear(2, 1).to(chosen)}, {"a": 1})
    loaded = load_model(path, "calo", "toy", "rule calo_train")
    assert loaded.device == describe(chosen) == {"device": "cpu", "torch": torch.__version__}
