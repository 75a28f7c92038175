"""HMC chain to the documented HDF5 layout (rule lattice_convert)."""

from twins.core.steps import run
from twins.lattice.steps import convert

run(convert, snakemake)
