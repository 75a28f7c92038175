"""Report figures and tables of the virgo twin (rule virgo_report)."""

from twins.core.logs import to_file
from twins.virgo.report import run_report

with to_file(snakemake.log[0]):
    run_report(
        settings=snakemake.params.report,
        generated_h5=snakemake.input.generated,
        metrics_json=snakemake.input.metrics,
        curves_csv=snakemake.input.curves,
        ranking_csv=snakemake.input.ranking,
        out=dict(snakemake.output.items()),
    )
