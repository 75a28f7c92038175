"""Simulate strain, auxiliary channels and the glitch catalogue (rule virgo_simulate)."""

from twins.core.steps import run
from twins.virgo.steps import simulate

run(simulate, snakemake)
