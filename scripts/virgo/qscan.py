"""Q-scan of the real GW150914 strain (rule virgo_qscan)."""

from twins.core.steps import run
from twins.virgo.steps import qscan

run(qscan, snakemake)
