"""Observables of the HMC ensemble with Gamma-method errors (rule lattice_preprocess)."""

from twins.core.logs import to_file
from twins.lattice.steps import preprocess

with to_file(snakemake.log[0]):
    preprocess(
        ensemble=snakemake.wildcards.ensemble,
        spec=snakemake.params.spec,
        hmc_h5=snakemake.input.ensemble,
        out_json=snakemake.output.observables,
    )
