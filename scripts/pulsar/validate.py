"""Validate one classifier on every dataset and observation (rule pulsar_validate)."""

from twins.core.logs import to_file
from twins.pulsar.validate import validate_model

with to_file(snakemake.log[0]):
    validate_model(
        model_path=snakemake.input.model,
        tests=dict(zip(snakemake.params.datasets, snakemake.input.tests)),
        generate_summaries=dict(zip(snakemake.params.observations, snakemake.input.summaries)),
        masks=snakemake.params.masks,
        settings=snakemake.params.validate,
        seed=snakemake.params.seed,
        out_metrics=snakemake.output.metrics,
        out_snr_png=snakemake.output.snr,
        out_confusion_png=snakemake.output.confusion,
        model_name=snakemake.wildcards.model,
        trained_on=snakemake.params.trained_on,
        threshold=snakemake.params.generate["threshold"],
        batch_size=snakemake.params.generate["batch_size"],
    )
