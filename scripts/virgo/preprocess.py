"""Whitening, Q-transforms, ANNALISA channel selection and TFrame datasets (rule virgo_preprocess)."""

from twins.core.steps import run
from twins.virgo.steps import preprocess

run(preprocess, snakemake)
