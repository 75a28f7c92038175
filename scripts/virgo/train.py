"""Train GlitchFlow (rule virgo_train)."""

from twins.core.steps import run
from twins.virgo.steps import train

run(train, snakemake)
