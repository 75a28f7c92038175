"""Merge the simulated ROOT chunks into one HDF5 file (rule calo_convert)."""
from twins.calo.convert import convert_root_to_hdf5
from twins.core.logs import to_file

with to_file(snakemake.log[0]):
    convert_root_to_hdf5(
        root_files=list(snakemake.input.showers),
        out_h5=snakemake.output.showers,
        settings=snakemake.params.convert,
    )
