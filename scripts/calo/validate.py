"""Compare generated with simulated showers (rule calo_validate)."""

from twins.calo.validation_step import validate_to_files
from twins.core.logs import to_file

with to_file(snakemake.log[0]):
    validate_to_files(
        reference_h5=snakemake.input.reference,
        independent_h5=snakemake.input.independent,
        generated_h5=snakemake.input.generated,
        simulate_timings=list(snakemake.input.simulate_timing),
        generate_timing=snakemake.input.generate_timing,
        settings=snakemake.params.validate,
        seed=snakemake.params.seed,
        out_metrics=snakemake.output.metrics,
        out_figures={k: v for k, v in snakemake.output.items() if k != "metrics"},
        model=snakemake.wildcards.model,
        threads=snakemake.threads,
    )
