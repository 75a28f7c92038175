"""Whitening, Q-transforms, ANNALISA channel selection and TFrame datasets (rule virgo_preprocess)."""

from twins.core.logs import to_file
from twins.virgo.preprocess import run_preprocess

with to_file(snakemake.log[0]):
    run_preprocess(
        settings=snakemake.params.preprocess,
        segments_h5=snakemake.input.segments,
        seed=snakemake.params.seed,
        out=dict(snakemake.output.items()),
    )
