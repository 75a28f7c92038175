"""ROOT (simulated chunks or external Geant4 files) -> one HDF5 file (rule calo_convert)."""

from twins.calo.steps import convert
from twins.core.steps import run

run(convert, snakemake)
