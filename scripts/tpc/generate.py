"""Generate responses at the test features (rule tpc_generate)."""

from twins.core.steps import run
from twins.tpc.steps import generate

run(generate, snakemake)
