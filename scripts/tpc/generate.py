"""Generate responses at the test features (rule tpc_generate)."""

from twins.core.logs import to_file
from twins.tpc.generate import generate_for_test

with to_file(snakemake.log[0]):
    generate_for_test(
        model_path=snakemake.input.model,
        test_h5=snakemake.input.test,
        settings=snakemake.params.generate,
        seed=snakemake.params.seed,
        device=snakemake.params.device,
        out_h5=snakemake.output.responses,
        out_timing=snakemake.output.timing,
        threads=snakemake.threads,
    )
