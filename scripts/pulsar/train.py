"""Train the frame classifier PulsarRFI_NN (rule pulsar_train)."""

from twins.core.logs import to_file
from twins.pulsar.train import train_classifier

with to_file(snakemake.log[0]):
    train_classifier(
        train_h5=snakemake.input.train,
        validation_h5=snakemake.input.validation,
        settings=snakemake.params.train,
        frames=snakemake.params.frames,
        seed=snakemake.params.seed,
        device=snakemake.params.device,
        checkpoint_path=snakemake.params.checkpoint,
        out_model=snakemake.output.model,
        out_history=snakemake.output.history,
        out_losses_png=snakemake.output.losses,
        name=snakemake.wildcards.model,
    )
