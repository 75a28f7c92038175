"""Simulate one chunk of pad-row segments (rule tpc_simulate)."""

from twins.core.logs import to_file
from twins.tpc.production import simulate_chunk

with to_file(snakemake.log[0]):
    simulate_chunk(
        detector_path=snakemake.input.detector,
        settings=snakemake.params.simulate,
        seed=snakemake.params.seed,
        chunk=int(snakemake.wildcards.chunk),
        out_root=snakemake.output.segments,
        out_timing=snakemake.output.timing,
    )
