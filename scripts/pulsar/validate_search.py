"""Recall on injections, false alarms on real data, throughput of the search (rule pulsar_validate_search)."""

from twins.core.steps import run
from twins.pulsar.steps import validate_search

run(validate_search, snakemake)
