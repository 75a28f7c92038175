"""Simulate one dataset with PulsarDT or PulsarRFI_Gen: filterbank, truth, summary (rule pulsar_simulate)."""

from twins.core.steps import run
from twins.pulsar.steps import simulate

run(simulate, snakemake)
