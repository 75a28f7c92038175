"""Collect every model's metrics into one table for the report (rule calo_report)."""

from twins.calo.report import write_metrics_table
from twins.core.logs import to_file

with to_file(snakemake.log[0]):
    write_metrics_table(
        metrics_paths=dict(zip(snakemake.params.models, snakemake.input.metrics)),
        out_html=snakemake.output.table,
        out_csv=snakemake.output.csv,
    )
