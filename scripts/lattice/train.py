"""Train the flow of one lattice ensemble by reverse KL (rule lattice_train)."""

from twins.core.steps import run
from twins.lattice.steps import train

run(train, snakemake)
