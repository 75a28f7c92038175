"""Inject pulses into a background, search it, image and label the candidates (rule pulsar_inject)."""

from twins.core.steps import run
from twins.pulsar.steps import inject

run(inject, snakemake)
