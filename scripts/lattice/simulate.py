"""HMC reference ensemble of one lattice ensemble (rule lattice_simulate)."""

from twins.core.logs import to_file
from twins.lattice.steps import simulate

with to_file(snakemake.log[0]):
    simulate(
        ensemble=snakemake.wildcards.ensemble,
        spec=snakemake.params.spec,
        seed=snakemake.params.seed,
        out_chain=snakemake.output.chain,
        out_timing=snakemake.output.timing,
    )
