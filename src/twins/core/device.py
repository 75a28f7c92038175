"""The torch device of a training or generation job: a job that holds GPUs never runs on the CPU unnoticed.

A SLURM job granted GPUs (or a shell that names devices in CUDA_VISIBLE_DEVICES) whose torch sees no
CUDA device has a CPU-only torch build or a broken driver: `device: auto` then stops at once and names
the cause, instead of training for hours on the CPU while the GPU idles. Choosing the CPU stays possible
on purpose: `device: cpu` in the config, or TWINS_ALLOW_CPU=1 in the environment (the CI cluster's GPUs
are fake, and its jobs must still train).
"""

from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger(__name__)

ALLOW_CPU_VARIABLE = "TWINS_ALLOW_CPU"
# What SLURM and CUDA set when a process is given GPUs; values meaning "none" are ignored.
GPU_VARIABLES = ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_GPUS_ON_NODE", "CUDA_VISIBLE_DEVICES")
NO_DEVICE = {"", "-1", "0:0", "none", "NoDevFiles"}


class DeviceError(RuntimeError):
    """The requested device cannot be used; the message names the cause and the fix."""


def granted_gpus(environ: os._Environ | dict | None = None) -> dict[str, str]:
    """The variables (name -> value) that say this process was given GPUs; empty when none says so."""
    environ = os.environ if environ is None else environ
    granted = {}
    for name in GPU_VARIABLES:
        value = environ.get(name, "").strip()
        if value in NO_DEVICE or (name == "SLURM_GPUS_ON_NODE" and value == "0"):
            continue
        granted[name] = value
    return granted


def cpu_allowed(environ: os._Environ | dict | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return environ.get(ALLOW_CPU_VARIABLE, "").strip().lower() in {"1", "true", "yes"}


def select_device(name: str = "auto") -> torch.device:
    """'auto': CUDA when torch sees it; else the CPU, unless the job holds GPUs (then DeviceError).
    'cpu' and 'cuda[:N]' are taken as given ('cuda' without a visible device is a DeviceError)."""
    cuda = torch.cuda.is_available()
    if name == "auto":
        if cuda:
            device = torch.device("cuda")
        else:
            granted = granted_gpus()
            if granted and not cpu_allowed():
                raise DeviceError(
                    f"this job holds GPUs ({', '.join(f'{k}={v}' for k, v in granted.items())}) but torch "
                    f"{torch.__version__} sees no CUDA device (torch.version.cuda={torch.version.cuda}): the env "
                    "has a CPU-only torch build or the driver does not load. Build the envs with a CUDA torch "
                    "(envs/torch.yaml asks for pytorch-gpu; on a login node without GPUs set "
                    "CONDA_OVERRIDE_CUDA, see docs/hpc.md), or choose the CPU on purpose with `device: cpu` "
                    f"or {ALLOW_CPU_VARIABLE}=1"
                )
            device = torch.device("cpu")
    elif name.startswith("cuda") and not cuda:
        raise DeviceError(f"device '{name}' requested but torch sees no CUDA device; use device: auto or cpu")
    else:
        device = torch.device(name)
    log.info("torch device: %s", describe(device))
    return device


def describe(device: torch.device | str) -> dict[str, str]:
    """What ran the computation, for logs and provenance: device, its name, torch and CUDA versions."""
    device = torch.device(device)
    record = {"device": str(device), "torch": torch.__version__}
    if device.type == "cuda":
        record["name"] = torch.cuda.get_device_name(device)
        record["cuda"] = str(torch.version.cuda)
    return record
