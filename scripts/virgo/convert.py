"""Cut segments around catalogued glitches and background times (rule virgo_convert)."""

from twins.core.steps import run
from twins.virgo.steps import convert

run(convert, snakemake)
