"""Train GlitchFlow (rule virgo_train)."""

from twins.core.logs import to_file
from twins.virgo.train import train_glitchflow

with to_file(snakemake.log[0]):
    train_glitchflow(
        settings=snakemake.params.train,
        train_h5=snakemake.input.train,
        validation_h5=snakemake.input.validation,
        seed=snakemake.params.seed,
        device=snakemake.params.device,
        checkpoint_path=snakemake.params.checkpoint,
        out_model=snakemake.output.model,
        out_history=snakemake.output.history,
        out_losses_png=snakemake.output.losses,
        threads=snakemake.threads,
    )
