"""Train one calorimeter generator (rule calo_train)."""

from twins.calo.models import train_model
from twins.core.logs import to_file

with to_file(snakemake.log[0]):
    train_model(
        model=snakemake.wildcards.model,
        train_h5=snakemake.input.train,
        validation_h5=snakemake.input.validation,
        settings=snakemake.params.train,
        seed=snakemake.params.seed,
        device=snakemake.params.device,
        checkpoint_path=snakemake.params.checkpoint,
        out_model=snakemake.output.model,
        out_history=snakemake.output.history,
        out_losses_png=snakemake.output.losses,
        gpus=snakemake.resources.get("gpu", 0),
        threads=snakemake.threads,
    )
