"""Split, log-transform and encode the segments (rule tpc_preprocess)."""

from twins.core.steps import run
from twins.tpc.steps import preprocess

run(preprocess, snakemake)
