"""Simulate one dataset with PulsarDT or PulsarRFI_Gen (rule pulsar_simulate)."""

from twins.core.io import write_json
from twins.core.logs import to_file
from twins.pulsar.simulate import simulate_dataset

with to_file(snakemake.log[0]):
    summary = simulate_dataset(
        name=snakemake.wildcards.dataset,
        settings=snakemake.params.dataset,
        frames=snakemake.params.frames,
        labelling=snakemake.params.labelling,
        seed=snakemake.params.seed,
        out_fil=snakemake.output.fil,
        out_truth=snakemake.output.truth,
        telescope_path=snakemake.input.telescope,
    )
    write_json(snakemake.output.summary, summary)
