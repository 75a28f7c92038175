"""Train the frame classifier PulsarRFI_NN (rule pulsar_train)."""

from twins.core.steps import run
from twins.pulsar.steps import train

run(train, snakemake)
