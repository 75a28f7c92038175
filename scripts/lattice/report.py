"""Lattice summary: observables with pulls, cost table, acceptance vs L (rule lattice_report)."""

from twins.core.logs import to_file
from twins.lattice.report import make_report

with to_file(snakemake.log[0]):
    make_report(
        validation_jsons=snakemake.input.summaries,
        out_html=snakemake.output.table,
        out_csv=snakemake.output.cost,
        out_acceptance=snakemake.output.acceptance,
    )
