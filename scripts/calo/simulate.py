"""Simulate one chunk of calorimeter showers (rule calo_simulate)."""

from twins.calo.production import simulate_chunk
from twins.core.logs import to_file

with to_file(snakemake.log[0]):
    simulate_chunk(
        geometry_path=snakemake.input.geometry,
        settings=snakemake.params.simulate,
        seed=snakemake.params.seed,
        chunk=int(snakemake.wildcards.chunk),
        out_root=snakemake.output.showers,
        out_timing=snakemake.output.timing,
    )
