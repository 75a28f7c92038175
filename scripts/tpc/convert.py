"""Merge the simulation chunks into one HDF5 file (rule tpc_convert)."""

from twins.core.logs import to_file
from twins.tpc.convert import convert_root_to_hdf5

with to_file(snakemake.log[0]):
    convert_root_to_hdf5(list(snakemake.input.segments), snakemake.output.segments, snakemake.params.convert)
