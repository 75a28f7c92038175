"""The chi^2 table and Fast4/Fast6 comparison (rule tpc_report)."""

from twins.core.steps import run
from twins.tpc.steps import report

run(report, snakemake)
