"""Simulate strain, auxiliary channels and the glitch catalogue (rule virgo_simulate)."""

from twins.core.logs import to_file
from twins.virgo.simulate import run_simulate

with to_file(snakemake.log[0]):
    run_simulate(
        settings=snakemake.params.simulate,
        asd_file=snakemake.input.asd,
        channels_file=snakemake.input.channels,
        seed=snakemake.params.seed,
        out_h5=snakemake.output.detector,
        out_catalogue=snakemake.output.catalogue,
    )
