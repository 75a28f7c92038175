"""Multi-process (distributed data-parallel) training: process count, torchrun launch, per-rank context.

A training function runs unchanged in one process or in N processes started by torchrun. Every rank
draws the same random numbers (batch order, noise) for the *whole* batch and keeps its own contiguous
slice of it, and DistributedDataParallel averages the gradients of the slices; so N processes with a
per-rank batch of B/N follow the single-process run with batch B up to floating-point summation order.
Only rank 0 writes files. Backend: NCCL on CUDA devices, gloo on the CPU.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


def process_count(requested: int, gpus: int, cuda_available: bool | None = None) -> int:
    """Processes for one training job: the configured count, or one per allocated GPU when a job holds
    more than one GPU and CUDA is visible (as on a SLURM node with --gpus=N)."""
    requested = int(requested)
    if requested < 1:
        raise ValueError(f"the number of training processes must be >= 1; got {requested}")
    cuda = torch.cuda.is_available() if cuda_available is None else cuda_available
    if int(gpus) > 1 and cuda:
        return max(requested, int(gpus))
    return requested


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in a (possibly one-process) training run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_environment(cls) -> DistributedContext:
        """The torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK), joining the process group on first use;
        a single process outside torchrun."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        context = cls(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            if backend == "nccl":
                torch.cuda.set_device(context.local_rank)
            dist.init_process_group(backend=backend)
            log.info("rank %d of %d joined the %s process group", context.rank, world, backend)
        return context

    def device(self, device: torch.device) -> torch.device:
        """Each rank takes its own GPU (LOCAL_RANK); CPU stays CPU."""
        if self.active and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    def shard(self, size: int) -> slice:
        """The slice of a batch of `size` rows this rank trains on (contiguous, equal parts)."""
        if size % self.world_size:
            raise ValueError(
                f"a batch of {size} cannot be split evenly over {self.world_size} training processes; "
                f"choose a batch_size divisible by the number of processes"
            )
        part = size // self.world_size
        return slice(self.rank * part, (self.rank + 1) * part)

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """DistributedDataParallel around `module` when running distributed, else `module` itself."""
        if not self.active:
            return module
        device_ids = [self.local_rank] if next(module.parameters()).is_cuda else None
        return torch.nn.parallel.DistributedDataParallel(module, device_ids=device_ids)

    def mean(self, value: float) -> float:
        """The average of a number over all ranks (for losses that every rank logs the same)."""
        if not self.active:
            return float(value)
        tensor = torch.tensor([float(value)], dtype=torch.float64)
        dist.all_reduce(tensor)
        return float(tensor.item()) / self.world_size

    def barrier(self) -> None:
        if self.active:
            dist.barrier()


def launch(module: str, arguments: dict[str, Any], processes: int, threads_per_process: int = 1) -> None:
    """Run `python -m module <arguments.json>` in `processes` processes with torchrun on this node.

    The module reads its keyword arguments from the JSON file. RuntimeError with the workers' output
    tail when any rank fails."""
    with tempfile.TemporaryDirectory(prefix="twins-ddp-") as tmp:
        args_path = Path(tmp) / "arguments.json"
        args_path.write_text(json.dumps(arguments))
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={int(processes)}",
            "-m",
            module,
            str(args_path),
        ]
        env = {**os.environ, "OMP_NUM_THREADS": str(int(threads_per_process))}
        log.info("launching %d training processes: %s", processes, " ".join(command))
        result = subprocess.run(command, capture_output=True, text=True, env=env)
    for line in result.stdout.splitlines() + result.stderr.splitlines():
        log.info("[torchrun] %s", line)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise RuntimeError(f"distributed training ({processes} processes of {module}) failed:\n{tail}")
