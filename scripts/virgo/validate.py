"""Veto and de-noising accuracy vs threshold, channel selection, latency (rule virgo_validate)."""

from twins.core.logs import to_file
from twins.virgo.validate import run_validate

with to_file(snakemake.log[0]):
    run_validate(
        settings=snakemake.params.validate,
        generated_h5=snakemake.input.generated,
        selection_json=snakemake.input.selection,
        timing_json=snakemake.input.timing,
        out_metrics=snakemake.output.metrics,
        out_curves=snakemake.output.curves,
    )
