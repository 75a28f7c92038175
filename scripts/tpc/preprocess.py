"""Split, log-transform and encode the segments (rule tpc_preprocess)."""

from twins.core.logs import to_file
from twins.tpc.preprocess import preprocess

with to_file(snakemake.log[0]):
    preprocess(
        segments_h5=snakemake.input.segments,
        outputs={k: snakemake.output[k] for k in ("train", "validation", "test")},
        settings=snakemake.params.preprocess,
        seed=snakemake.params.seed,
    )
