"""Train one calorimeter generator (rule calo_train)."""

from twins.calo.steps import train
from twins.core.steps import run

run(train, snakemake)
