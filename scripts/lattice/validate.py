"""NF-MCMC against HMC and exact results (rule lattice_validate)."""

from twins.core.logs import to_file
from twins.lattice.steps import validate

with to_file(snakemake.log[0]):
    validate(
        ensemble=snakemake.wildcards.ensemble,
        spec=snakemake.params.spec,
        hmc_h5=snakemake.input.hmc,
        nf_h5=snakemake.input.nfmcmc,
        hmc_json=snakemake.input.observables,
        sim_timing=snakemake.input.simulate_timing,
        gen_timing=snakemake.input.generate_timing,
        out_json=snakemake.output.summary,
        out_figure=snakemake.output.histogram,
    )
