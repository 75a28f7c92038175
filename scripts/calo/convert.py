"""ROOT (simulated chunks or external Geant4 files) -> one HDF5 file (rule calo_convert)."""

from twins.calo.convert import convert_showers
from twins.core.logs import to_file

with to_file(snakemake.log[0]):
    convert_showers(
        root_files=list(snakemake.input.showers),
        out_h5=snakemake.output.showers,
        settings=snakemake.params.convert,
    )
