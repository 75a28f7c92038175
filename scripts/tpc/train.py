"""Train the conditional GAN of one variant (rule tpc_train)."""

from twins.core.steps import run
from twins.tpc.steps import train

run(train, snakemake)
