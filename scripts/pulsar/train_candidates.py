"""Train the candidate classifier on the injected candidate sets (rule pulsar_train_candidates)."""

from twins.core.steps import run
from twins.pulsar.steps import train_candidates

run(train_candidates, snakemake)
