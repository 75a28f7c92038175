"""NF-MCMC ensemble from the trained flow (rule lattice_generate)."""

from twins.core.steps import run
from twins.lattice.steps import generate

run(generate, snakemake)
