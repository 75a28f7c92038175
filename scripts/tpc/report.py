"""The chi^2 table and Fast4/Fast6 comparison (rule tpc_report)."""

from twins.core.logs import to_file
from twins.tpc.report import write_report

with to_file(snakemake.log[0]):
    write_report(
        dict(zip(snakemake.params.variants, snakemake.input.metrics)),
        out_html=snakemake.output.table,
        out_csv=snakemake.output.csv,
        out_png=snakemake.output.comparison,
    )
