"""Merge the simulation chunks into one HDF5 file (rule tpc_convert)."""

from twins.core.steps import run
from twins.tpc.steps import convert

run(convert, snakemake)
