"""The adapter between a rule script and a twin's step function: the same two lines in every script.

Every step of every twin has one signature,

    def step(inputs: dict, outputs: dict, params: dict, threads: int = 1) -> None

with the rule's named input and output files (a path, or a list of paths for a list input), its params (the
config slice, the seed, and any wildcard or resource the step needs, declared in the rule so that Snakemake
tracks them) and its thread count. A rule script is then

    from twins.calo.steps import train
    from twins.core.steps import run

    run(train, snakemake)

and tests or other callers call the step with plain dicts, no Snakemake needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twins.core.logs import to_file

Step = Callable[[dict, dict, dict, int], None]


def _named(files: Any) -> dict[str, Any]:
    """Snakemake's named input or output files as a plain dict: a path as str, a list of paths as a list."""
    return {name: str(value) if isinstance(value, str) else [str(v) for v in value] for name, value in files.items()}


def job_arguments(smk: Any) -> tuple[dict, dict, dict, int]:
    """(inputs, outputs, params, threads) of the running Snakemake job."""
    params = {name: value for name, value in smk.params.items()}
    return _named(smk.input), _named(smk.output), params, int(smk.threads)


def run(step: Step, smk: Any) -> None:
    """Call `step` with the job's files, params and threads, its logging and output sent to the rule's log."""
    inputs, outputs, params, threads = job_arguments(smk)
    with to_file(smk.log[0]):
        step(inputs, outputs, params, threads)
