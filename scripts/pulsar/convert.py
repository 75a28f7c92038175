"""Filterbank -> HDF5 frames with the simulator's truth (rule pulsar_convert)."""

from twins.core.steps import run
from twins.pulsar.steps import convert

run(convert, snakemake)
