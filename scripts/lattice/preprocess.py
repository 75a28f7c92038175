"""Observables of the HMC ensemble with Gamma-method errors (rule lattice_preprocess)."""

from twins.core.steps import run
from twins.lattice.steps import preprocess

run(preprocess, snakemake)
