"""Config helpers the lattice rule file calls (Snakemake --lint wants no functions in .smk files)."""

from __future__ import annotations

STEP_KEYS = {
    "simulate": ("theory", "shape", "couplings", "hmc"),
    "train": ("theory", "shape", "couplings", "flow"),
    "generate": ("theory", "shape", "couplings", "nfmcmc"),
    "physics": ("theory", "shape", "couplings"),
}


def ensembles_to_run(lattice: dict) -> list[str]:
    """The names in lattice.run, each checked to be defined in lattice.ensembles."""
    missing = [name for name in lattice["run"] if name not in lattice["ensembles"]]
    if missing:
        raise ValueError(
            f"config lattice.run names {missing}, not defined in lattice.ensembles "
            f"(defined: {sorted(lattice['ensembles'])}); add them or fix the names"
        )
    return list(lattice["run"])


def ensemble_slice(lattice: dict, ensemble: str, step: str) -> dict:
    """Only the keys of one ensemble a step depends on, so a config change reruns exactly what it touches."""
    spec = lattice["ensembles"][ensemble]
    return {key: spec[key] for key in STEP_KEYS[step]}
