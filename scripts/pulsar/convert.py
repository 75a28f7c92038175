"""Filterbank -> HDF5 frames with the simulator's truth (rule pulsar_convert)."""

from twins.core.logs import to_file
from twins.pulsar.convert import convert_dataset

with to_file(snakemake.log[0]):
    convert_dataset(
        fil=snakemake.input.fil,
        truth=snakemake.input.truth,
        frames=snakemake.params.frames,
        out_h5=snakemake.output.frames,
    )
