"""Validate one classifier on every dataset and observation (rule pulsar_validate)."""

from twins.core.steps import run
from twins.pulsar.steps import validate

run(validate, snakemake)
