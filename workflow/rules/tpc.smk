# TPC twin: simulate -> convert -> preprocess -> train -> generate -> validate -> report.
from twins.tpc import rules as tpc_rules

# Rule-level constraints (not global ones) so other twins may use the same wildcard names.
TPC_VARIANT = tpc_rules.variant_pattern(config)
TWIN_TARGETS["tpc"] = tpc_rules.targets(config)


# Light rules run where Snakemake runs (no sbatch and queue wait for a few seconds of work).
localrules:
    tpc_report,


rule tpc_simulate:
    input:
        # files the workflow does not make (the checkout's, the user's): see external_file in common.smk
        detector=external_file(config["tpc"]["detector"]),
    output:
        segments=chunk_files(results("tpc/simulate/chunk_{chunk}.root")),
        timing=results("tpc/simulate/chunk_{chunk}.json"),
    log:
        logs("tpc/simulate_{chunk}.log"),
    benchmark:
        benchmarks("tpc/simulate_{chunk}.tsv")
    wildcard_constraints:
        chunk=r"\d+",
    conda:
        conda_env("calo-sim")
    threads: 1
    resources:
        runtime=per_attempt(60),
        mem_mb=per_attempt(4000),
    params:
        simulate=config["tpc"]["simulate"],
        seed=config["seed"],
        chunk=lambda wc: int(wc.chunk),
    script:
        "../../scripts/tpc/simulate.py"


rule tpc_convert:
    input:
        segments=tpc_rules.simulation_chunks(config),
    output:
        segments=results("tpc/segments.h5"),
    log:
        logs("tpc/convert.log"),
    benchmark:
        benchmarks("tpc/convert.tsv")
    conda:
        conda_env("calo-sim")
    threads: 1
    resources:
        runtime=per_attempt(30),
        mem_mb=per_attempt(4000),
    params:
        convert=config["tpc"]["convert"],
    script:
        "../../scripts/tpc/convert.py"


rule tpc_preprocess:
    input:
        segments=results("tpc/segments.h5"),
    output:
        train=results("tpc/preprocess/train.h5"),
        validation=results("tpc/preprocess/validation.h5"),
        test=results("tpc/preprocess/test.h5"),
    log:
        logs("tpc/preprocess.log"),
    benchmark:
        benchmarks("tpc/preprocess.tsv")
    conda:
        conda_env("calo-sim")
    threads: 1
    resources:
        runtime=per_attempt(30),
        mem_mb=per_attempt(4000),
    params:
        preprocess=config["tpc"]["preprocess"],
        seed=config["seed"],
    script:
        "../../scripts/tpc/preprocess.py"


rule tpc_train:
    input:
        train=results("tpc/preprocess/train.h5"),
        validation=results("tpc/preprocess/validation.h5"),
    output:
        model=results("tpc/models/{variant}/model.pt"),
        history=results("tpc/models/{variant}/history.csv"),
        losses=report(
            results("tpc/models/{variant}/losses.png"),
            caption="../report/tpc/losses.rst",
            category="TPC",
            subcategory="Training",
            labels={"variant": "{variant}", "figure": "training losses"},
        ),
    log:
        logs("tpc/train_{variant}.log"),
    benchmark:
        benchmarks("tpc/train_{variant}.tsv")
    wildcard_constraints:
        variant=TPC_VARIANT,
    conda:
        conda_env("torch")
    threads: 1
    resources:
        gpu=1,
        runtime=per_attempt(240),
        mem_mb=per_attempt(4000),
    params:
        train=config["tpc"]["train"],
        seed=config["seed"],
        device=config["device"],
        variant=lambda wc: wc.variant,
        # The checkpoint is not an output: Snakemake would delete it before a rerun, and a
        # killed training must resume from it.
        checkpoint=lambda wc: results(f"tpc/models/{wc.variant}/checkpoint.pt"),
    script:
        "../../scripts/tpc/train.py"


rule tpc_generate:
    input:
        model=results("tpc/models/{variant}/model.pt"),
        test=results("tpc/preprocess/test.h5"),
    output:
        responses=results("tpc/generate/{variant}.h5"),
        timing=results("tpc/generate/{variant}.json"),
    log:
        logs("tpc/generate_{variant}.log"),
    benchmark:
        benchmarks("tpc/generate_{variant}.tsv")
    wildcard_constraints:
        variant=TPC_VARIANT,
    conda:
        conda_env("torch")
    threads: 1
    resources:
        gpu=1,
        runtime=per_attempt(30),
        mem_mb=per_attempt(4000),
    params:
        generate=config["tpc"]["generate"],
        seed=config["seed"],
        device=config["device"],
        variant=lambda wc: wc.variant,
    script:
        "../../scripts/tpc/generate.py"


rule tpc_validate:
    input:
        reference=results("tpc/preprocess/test.h5"),
        # disjoint simulated segments: the statistical floor of every chi^2
        independent=results("tpc/preprocess/validation.h5"),
        generated=results("tpc/generate/{variant}.h5"),
        simulate_timing=tpc_rules.simulation_timings(config),
        generate_timing=results("tpc/generate/{variant}.json"),
    output:
        profiles=report(
            results("tpc/validate/{variant}/profiles.png"),
            caption="../report/tpc/profiles.rst",
            category="TPC",
            subcategory="Validation: {variant}",
            labels={"variant": "{variant}", "figure": "moment profiles"},
        ),
        moments=report(
            results("tpc/validate/{variant}/moments.png"),
            caption="../report/tpc/moments.rst",
            category="TPC",
            subcategory="Validation: {variant}",
            labels={"variant": "{variant}", "figure": "moment distributions"},
        ),
        examples=report(
            results("tpc/validate/{variant}/examples.png"),
            caption="../report/tpc/examples.rst",
            category="TPC",
            subcategory="Validation: {variant}",
            labels={"variant": "{variant}", "figure": "example responses"},
        ),
        metrics=results("tpc/validate/{variant}/metrics.json"),
    log:
        logs("tpc/validate_{variant}.log"),
    benchmark:
        benchmarks("tpc/validate_{variant}.tsv")
    wildcard_constraints:
        variant=TPC_VARIANT,
    conda:
        conda_env("report")
    threads: 1
    resources:
        runtime=per_attempt(30),
        mem_mb=per_attempt(4000),
    params:
        validate=config["tpc"]["validate"],
        variant=lambda wc: wc.variant,
    script:
        "../../scripts/tpc/validate.py"


rule tpc_report:
    input:
        metrics=tpc_rules.validation_metrics(config),
    output:
        table=report(
            results("tpc/report/chi2.html"),
            caption="../report/tpc/chi2.rst",
            category="TPC",
            subcategory="Metrics",
            labels={"variant": "all", "figure": "chi2 table"},
        ),
        csv=results("tpc/report/chi2.csv"),
        comparison=report(
            results("tpc/report/comparison.png"),
            caption="../report/tpc/comparison.rst",
            category="TPC",
            subcategory="Metrics",
            labels={"variant": "all", "figure": "Fast4 vs Fast6"},
        ),
    log:
        logs("tpc/report.log"),
    benchmark:
        benchmarks("tpc/report.tsv")
    conda:
        conda_env("report")
    threads: 1
    params:
        variants=config["tpc"]["variants"],
    script:
        "../../scripts/tpc/report.py"


# snakemake tpc_all: this twin alone
rule tpc_all:
    input:
        TWIN_TARGETS["tpc"],
