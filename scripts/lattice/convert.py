"""HMC chain to the documented HDF5 layout (rule lattice_convert)."""

from twins.core.logs import to_file
from twins.lattice.steps import convert

with to_file(snakemake.log[0]):
    convert(
        ensemble=snakemake.wildcards.ensemble,
        spec=snakemake.params.spec,
        seed=snakemake.params.seed,
        chain_npz=snakemake.input.chain,
        out_h5=snakemake.output.ensemble,
    )
