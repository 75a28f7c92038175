"""Generate showers with a trained model (rule calo_generate)."""

from twins.calo.steps import generate
from twins.core.steps import run

run(generate, snakemake)
