"""What workflow/rules/tpc.smk needs from Python: targets, input lists and wildcard patterns (no Snakemake
imports)."""

from __future__ import annotations

from twins.core.workflow import results


def targets(config: dict) -> list[str]:
    """The tpc twin's final outputs (rule tpc_all)."""
    return [results("tpc/report/chi2.html"), results("tpc/report/comparison.png")]


def variant_pattern(config: dict) -> str:
    """The wildcard constraint of {variant}: the configured variants (a rule-level constraint, so other twins may
    use the same wildcard name)."""
    return "|".join(config["tpc"]["variants"])


def simulation_chunks(config: dict) -> list[str]:
    """The ROOT files of every tpc_simulate chunk, in chunk order (tpc_convert's input)."""
    return [results(f"tpc/simulate/chunk_{chunk}.root") for chunk in range(config["tpc"]["simulate"]["chunks"])]


def simulation_timings(config: dict) -> list[str]:
    """The timing files of every tpc_simulate chunk (the simulator's speed in tpc_validate)."""
    return [results(f"tpc/simulate/chunk_{chunk}.json") for chunk in range(config["tpc"]["simulate"]["chunks"])]


def validation_metrics(config: dict) -> list[str]:
    """tpc_validate's metrics file of every variant, in the config's order (tpc_report's input)."""
    return [results(f"tpc/validate/{variant}/metrics.json") for variant in config["tpc"]["variants"]]
