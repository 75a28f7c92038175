"""HMC reference ensemble of one lattice ensemble (rule lattice_simulate)."""

from twins.core.steps import run
from twins.lattice.steps import simulate

run(simulate, snakemake)
