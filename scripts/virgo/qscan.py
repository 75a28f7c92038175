"""Q-scan of the real GW150914 strain (rule virgo_qscan)."""

from twins.core.logs import to_file
from twins.virgo.report import run_qscan

with to_file(snakemake.log[0]):
    run_qscan(
        settings=snakemake.params.report,
        preprocess_settings=snakemake.params.preprocess,
        gwosc_h5=snakemake.input.gwosc,
        out=dict(snakemake.output.items()),
    )
