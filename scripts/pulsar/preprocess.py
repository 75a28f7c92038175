"""Normalise, split and balance one dataset's frames (rule pulsar_preprocess)."""

from twins.core.steps import run
from twins.pulsar.steps import preprocess

run(preprocess, snakemake)
