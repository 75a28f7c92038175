"""Threshold, scale and split the showers for training (rule calo_preprocess)."""

from twins.calo.steps import preprocess
from twins.core.steps import run

run(preprocess, snakemake)
