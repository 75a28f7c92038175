"""Threshold, scale and split the showers for training (rule calo_preprocess)."""

from twins.calo.preprocess import preprocess_showers
from twins.core.logs import to_file

with to_file(snakemake.log[0]):
    preprocess_showers(
        in_h5=snakemake.input.showers,
        out_paths={
            "train": snakemake.output.train,
            "validation": snakemake.output.validation,
            "test": snakemake.output.test,
        },
        settings=snakemake.params.preprocess,
        seed=snakemake.params.seed,
    )
