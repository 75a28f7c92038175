"""One torchrun worker of data-parallel CaloINN training:
`python -m twins.calo.models.caloinn.distributed_train args.json`.

Started by twins.core.distributed.launch (through the registry's `distributed_worker`); the JSON file holds
the keyword arguments of train_caloinn."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import torch.distributed as dist

from twins.calo.models.caloinn.train import train_caloinn
from twins.core.distributed import DistributedContext


def main(arguments_path: str) -> None:
    context = DistributedContext.from_environment()
    logging.basicConfig(
        level=logging.INFO if context.is_main else logging.WARNING,
        format=f"rank {context.rank}: %(levelname)s %(name)s: %(message)s",
    )
    train_caloinn(**json.loads(Path(arguments_path).read_text()))
    if context.active:
        context.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
