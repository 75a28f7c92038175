"""Classify a whole observation: labels, reduced product, candidates (rule pulsar_generate)."""

from twins.core.logs import to_file
from twins.pulsar.generate import classify_observation

with to_file(snakemake.log[0]):
    classify_observation(
        fil=snakemake.input.fil,
        model_path=snakemake.input.model,
        settings=snakemake.params.generate,
        preprocess=snakemake.params.preprocess,
        flagging=snakemake.params.flagging,
        observation=snakemake.wildcards.observation,
        out_labels=snakemake.output.labels,
        out_reduced=snakemake.output.reduced,
        out_candidates=snakemake.output.candidates,
        out_summary=snakemake.output.summary,
        downsample=snakemake.params.downsample,
        threads=snakemake.threads,
    )
