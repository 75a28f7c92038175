"""Simulate one chunk of pad-row segments (rule tpc_simulate)."""

from twins.core.steps import run
from twins.tpc.steps import simulate

run(simulate, snakemake)
