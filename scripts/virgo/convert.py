"""Cut segments around catalogued glitches and background times (rule virgo_convert)."""

from twins.core.logs import to_file
from twins.virgo.segments import run_convert

with to_file(snakemake.log[0]):
    run_convert(
        settings=snakemake.params.convert,
        detector_h5=snakemake.input.detector,
        seed=snakemake.params.seed,
        out_h5=snakemake.output.segments,
    )
