"""GlitchFlow inference on the test set, de-noising and latency (rule virgo_generate)."""

from twins.core.logs import to_file
from twins.virgo.generate import run_generate

with to_file(snakemake.log[0]):
    run_generate(
        settings=snakemake.params.generate,
        preprocess_settings=snakemake.params.preprocess,
        model_path=snakemake.input.model,
        test_h5=snakemake.input.test,
        segments_h5=snakemake.input.segments,
        asd_h5=snakemake.input.asd,
        device=snakemake.params.device,
        out_h5=snakemake.output.generated,
        out_timing=snakemake.output.timing,
        threads=snakemake.threads,
    )
