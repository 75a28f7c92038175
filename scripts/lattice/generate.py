"""NF-MCMC ensemble from the trained flow (rule lattice_generate)."""

from twins.core.logs import to_file
from twins.lattice.steps import generate

with to_file(snakemake.log[0]):
    generate(
        ensemble=snakemake.wildcards.ensemble,
        spec=snakemake.params.spec,
        seed=snakemake.params.seed,
        model=snakemake.input.model,
        out_h5=snakemake.output.ensemble,
        out_timing=snakemake.output.timing,
    )
