"""What workflow/rules/lattice.smk needs from Python: targets, the {ensemble} wildcard pattern, input lists and
the config slices of one ensemble (no Snakemake imports)."""

from __future__ import annotations

from twins.core.workflow import results

# The keys of one ensemble each step depends on, so a config change reruns exactly what it touches.
STEP_KEYS = {
    "simulate": ("theory", "shape", "couplings", "hmc"),
    "train": ("theory", "shape", "couplings", "flow"),
    "generate": ("theory", "shape", "couplings", "nfmcmc"),
    "physics": ("theory", "shape", "couplings"),
}


def targets(config: dict) -> list[str]:
    """The lattice twin's final outputs (rule lattice_all)."""
    return [results("lattice/report/summary.html")]


def ensembles_to_run(config: dict) -> list[str]:
    """The names in lattice.run, each checked to be defined in lattice.ensembles."""
    lattice = config["lattice"]
    missing = [name for name in lattice["run"] if name not in lattice["ensembles"]]
    if missing:
        raise ValueError(
            f"config lattice.run names {missing}, not defined in lattice.ensembles "
            f"(defined: {sorted(lattice['ensembles'])}); add them or fix the names"
        )
    return list(lattice["run"])


def ensemble_pattern(config: dict) -> str:
    """The wildcard constraint of {ensemble}: the ensembles to run (a rule-level constraint, so other twins may
    use the same wildcard name)."""
    return "|".join(ensembles_to_run(config))


def ensemble_slice(config: dict, ensemble: str, step: str) -> dict:
    """Only the keys of lattice.ensembles.<ensemble> that `step` depends on (STEP_KEYS)."""
    spec = config["lattice"]["ensembles"][ensemble]
    return {key: spec[key] for key in STEP_KEYS[step]}


def validation_summaries(config: dict) -> list[str]:
    """lattice_validate's summary of every ensemble to run, in lattice.run's order (lattice_report's input)."""
    return [results(f"lattice/validate/{ensemble}.json") for ensemble in ensembles_to_run(config)]
