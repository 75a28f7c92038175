"""Report figures and tables of the virgo twin (rule virgo_report)."""

from twins.core.steps import run
from twins.virgo.steps import report

run(report, snakemake)
