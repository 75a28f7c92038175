"""Simulate one chunk of calorimeter showers (rule calo_simulate)."""

from twins.calo.steps import simulate
from twins.core.steps import run

run(simulate, snakemake)
