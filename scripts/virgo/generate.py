"""GlitchFlow inference on the test set, de-noising and latency (rule virgo_generate)."""

from twins.core.steps import run
from twins.virgo.steps import generate

run(generate, snakemake)
