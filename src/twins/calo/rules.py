"""What workflow/rules/calo.smk needs from Python: input lists, config slices, targets (no Snakemake imports)."""

from __future__ import annotations

from pathlib import Path

from twins.calo.geometry import materials_file_of
from twins.core.provenance import step_code_hash
from twins.core.workflow import results


def targets(config: dict) -> list[str]:
    """The calo twin's final outputs (rule calo_all)."""
    return [results("calo/report/metrics.html")]


def source_files(config: dict, external=str) -> list[str]:
    """ROOT files calo_convert reads: calo_simulate's chunks, or the configured external files (each wrapped
    in `external`: the rule file passes its `external_file`, so a user's file is never looked up under
    a storage prefix)."""
    convert = config["calo"]["convert"]
    if convert["source"] == "external":
        return [external(path) for path in convert["external"]["files"]]
    return [results(f"calo/simulate/chunk_{chunk}.root") for chunk in range(config["calo"]["simulate"]["chunks"])]


def generate_settings(config: dict, model: str) -> dict:
    """The `calo.generate` slice one model's generation reads: the shared keys and its own sub-slice only,
    so that changing CaloINN's temperature does not regenerate 3DGAN's showers."""
    generate = config["calo"]["generate"]
    shared = {k: v for k, v in generate.items() if k not in config["calo"]["train"]}
    return {**shared, model: generate[model]} if model in generate else shared


def simulation_timings(config: dict) -> list[str]:
    """The simulator's timing files (for the speed ratio); none for external data."""
    if config["calo"]["convert"]["source"] == "external":
        return []
    return [results(f"calo/simulate/chunk_{chunk}.json") for chunk in range(config["calo"]["simulate"]["chunks"])]


def simulator_code() -> str:
    """Hash of the code behind calo_simulate (the step and the twins modules it uses): in the rule's params, so
    a changed simulator reruns the chunks and misses the between-workflow cache instead of reusing old showers."""
    return step_code_hash("twins.calo.steps", "simulate")


def materials_files(config: dict) -> list[str]:
    """The materials file the geometry reads beside it (none for an inline material): an input of
    calo_simulate, so a job that stages the geometry through local scratch stages it too."""
    geometry = Path(config["calo"]["geometry"])
    if not geometry.is_file():  # the geometry input itself is then missing, which Snakemake reports if needed
        return []
    materials = materials_file_of(geometry)
    return [str(materials)] if materials is not None else []
