"""Classify a whole observation: labels, reduced product, candidates (rule pulsar_generate)."""

from twins.core.steps import run
from twins.pulsar.steps import generate

run(generate, snakemake)
