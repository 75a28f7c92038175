"""Generate showers with a trained model (rule calo_generate)."""

from twins.calo.generation_step import generate_to_file
from twins.core.logs import to_file

with to_file(snakemake.log[0]):
    generate_to_file(
        model=snakemake.wildcards.model,
        model_path=snakemake.input.model,
        test_h5=snakemake.input.test,
        validation_h5=snakemake.input.validation,
        settings=snakemake.params.generate,
        seed=snakemake.params.seed,
        device=snakemake.params.device,
        out_h5=snakemake.output.showers,
        out_timing=snakemake.output.timing,
    )
