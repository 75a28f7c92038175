"""Collect every model's metrics into one table for the report (rule calo_report)."""

from twins.calo.steps import report
from twins.core.steps import run

run(report, snakemake)
