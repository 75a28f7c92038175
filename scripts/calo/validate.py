"""Compare generated with simulated showers (rule calo_validate)."""

from twins.calo.steps import validate
from twins.core.steps import run

run(validate, snakemake)
