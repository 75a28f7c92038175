"""Metrics table and example frames of the pulsar twin (rule pulsar_report)."""

from twins.core.logs import to_file
from twins.pulsar.report import plot_example_frames, write_report_table

with to_file(snakemake.log[0]):
    write_report_table(
        metrics_paths=dict(zip(snakemake.params.models, snakemake.input.metrics)),
        out_html=snakemake.output.table,
        out_csv=snakemake.output.csv,
    )
    plot_example_frames(snakemake.input.examples, snakemake.output.examples, seed=snakemake.params.seed)
