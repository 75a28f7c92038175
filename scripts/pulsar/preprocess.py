"""Normalise, split and balance one dataset's frames (rule pulsar_preprocess)."""

from twins.core.logs import to_file
from twins.pulsar.preprocess import preprocess_dataset

with to_file(snakemake.log[0]):
    preprocess_dataset(
        frames_h5=snakemake.input.frames,
        settings=snakemake.params.preprocess,
        seed=snakemake.params.seed,
        name=snakemake.wildcards.dataset,
        out={k: snakemake.output[k] for k in ("train", "validation", "test")},
    )
