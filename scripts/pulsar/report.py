"""Metrics table and example frames of the pulsar twin (rule pulsar_report)."""

from twins.core.steps import run
from twins.pulsar.steps import report

run(report, snakemake)
