"""Moments, profiles, chi^2 and speed ratio of one variant (rule tpc_validate)."""

from twins.core.logs import to_file
from twins.tpc.validate import validate_variant

with to_file(snakemake.log[0]):
    validate_variant(
        variant=snakemake.wildcards.variant,
        reference_h5=snakemake.input.reference,
        independent_h5=snakemake.input.independent,
        generated_h5=snakemake.input.generated,
        simulate_timings=list(snakemake.input.simulate_timing),
        generate_timing=snakemake.input.generate_timing,
        settings=snakemake.params.validate,
        outputs={k: snakemake.output[k] for k in ("profiles", "moments", "examples", "metrics")},
    )
