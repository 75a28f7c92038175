"""Search a whole observation, classify its candidates, keep the data around the accepted ones (rule pulsar_search)."""

from twins.core.steps import run
from twins.pulsar.steps import search

run(search, snakemake)
