"""Train the conditional GAN of one variant (rule tpc_train)."""

from twins.core.logs import to_file
from twins.tpc.plot_training import plot_history
from twins.tpc.train import train_variant

with to_file(snakemake.log[0]):
    train_variant(
        variant=snakemake.wildcards.variant,
        train_h5=snakemake.input.train,
        validation_h5=snakemake.input.validation,
        settings=snakemake.params.train,
        seed=snakemake.params.seed,
        device=snakemake.params.device,
        checkpoint_path=snakemake.params.checkpoint,
        out_model=snakemake.output.model,
        out_history=snakemake.output.history,
        threads=snakemake.threads,
    )
    plot_history(snakemake.output.history, snakemake.output.losses)
