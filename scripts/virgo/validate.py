"""Veto and de-noising accuracy vs threshold, channel selection, latency (rule virgo_validate)."""

from twins.core.steps import run
from twins.virgo.steps import validate

run(validate, snakemake)
