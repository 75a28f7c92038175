"""NF-MCMC against HMC and exact results (rule lattice_validate)."""

from twins.core.steps import run
from twins.lattice.steps import validate

run(validate, snakemake)
