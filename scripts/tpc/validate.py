"""Moments, profiles, chi^2 and speed ratio of one variant (rule tpc_validate)."""

from twins.core.steps import run
from twins.tpc.steps import validate

run(validate, snakemake)
