"""Train the flow of one lattice ensemble by reverse KL (rule lattice_train)."""

from twins.core.logs import to_file
from twins.lattice.train import train_flow

with to_file(snakemake.log[0]):
    train_flow(
        ensemble=snakemake.wildcards.ensemble,
        spec=snakemake.params.spec,
        seed=snakemake.params.seed,
        checkpoint_path=snakemake.params.checkpoint,
        out_model=snakemake.output.model,
        out_history=snakemake.output.history,
        out_figure=snakemake.output.figure,
        device=snakemake.params.device,
        threads=snakemake.threads,
    )
