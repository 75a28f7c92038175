# Virgo twin (GlitchFlow): simulate -> convert -> preprocess (ANNALISA, whitening, Q-transform) -> train
# -> generate (veto, de-noising) -> validate -> report.
from twins.virgo import rules as virgo_rules

TWIN_TARGETS["virgo"] = virgo_rules.targets(config)


# Light rules run where Snakemake runs (no sbatch and queue wait for a few seconds of work).
localrules:
    virgo_report,
    virgo_qscan,


rule virgo_simulate:
    input:
        # files the workflow does not make (the checkout's, the user's): see external_file in common.smk
        asd=external_file(config["virgo"]["asd_file"]),
        channels=external_file(config["virgo"]["channels_file"]),
    output:
        detector=results("virgo/simulate/detector.h5"),
        catalogue=results("virgo/simulate/catalogue.csv"),
    log:
        logs("virgo/simulate.log"),
    benchmark:
        benchmarks("virgo/simulate.tsv")
    conda:
        conda_env("report")
    threads: 1
    resources:
        runtime=per_attempt(30),
        mem_mb=per_attempt(4000),
    params:
        simulate=config["virgo"]["simulate"],
        seed=config["seed"],
    script:
        "../../scripts/virgo/simulate.py"


rule virgo_convert:
    input:
        detector=results("virgo/simulate/detector.h5"),
    output:
        segments=results("virgo/segments.h5"),
    log:
        logs("virgo/convert.log"),
    benchmark:
        benchmarks("virgo/convert.tsv")
    conda:
        conda_env("report")
    threads: 1
    resources:
        runtime=per_attempt(30),
        mem_mb=per_attempt(4000),
    params:
        convert=config["virgo"]["convert"],
        seed=config["seed"],
    script:
        "../../scripts/virgo/convert.py"


rule virgo_preprocess:
    input:
        segments=results("virgo/segments.h5"),
    output:
        train=results("virgo/preprocess/train.h5"),
        validation=results("virgo/preprocess/validation.h5"),
        test=results("virgo/preprocess/test.h5"),
        asd=results("virgo/preprocess/asd.h5"),
        ranking=results("virgo/preprocess/channel_ranking.csv"),
        selection=results("virgo/preprocess/selection.json"),
    log:
        logs("virgo/preprocess.log"),
    benchmark:
        benchmarks("virgo/preprocess.tsv")
    conda:
        conda_env("report")
    threads: 1
    resources:
        runtime=per_attempt(30),
        mem_mb=per_attempt(4000),
    params:
        preprocess=config["virgo"]["preprocess"],
        seed=config["seed"],
    script:
        "../../scripts/virgo/preprocess.py"


rule virgo_train:
    input:
        train=results("virgo/preprocess/train.h5"),
        validation=results("virgo/preprocess/validation.h5"),
    output:
        model=results("virgo/models/glitchflow/model.pt"),
        history=results("virgo/models/glitchflow/history.csv"),
        losses=report(
            results("virgo/models/glitchflow/losses.png"),
            caption="../report/virgo/losses.rst",
            category="Virgo",
            subcategory="Training",
            labels={"model": "glitchflow", "figure": "training losses"},
        ),
    log:
        logs("virgo/train.log"),
    benchmark:
        benchmarks("virgo/train.tsv")
    conda:
        conda_env("torch")
    threads: 1
    resources:
        gpu=1,
        runtime=per_attempt(60),
        mem_mb=per_attempt(8000),
    params:
        train=config["virgo"]["train"],
        seed=config["seed"],
        device=config["device"],
        # not an output: Snakemake would delete it before a rerun, and a killed training resumes from it
        checkpoint=results("virgo/models/glitchflow/checkpoint.pt"),
    script:
        "../../scripts/virgo/train.py"


rule virgo_generate:
    input:
        model=results("virgo/models/glitchflow/model.pt"),
        test=results("virgo/preprocess/test.h5"),
        segments=results("virgo/segments.h5"),
        asd=results("virgo/preprocess/asd.h5"),
    output:
        generated=results("virgo/generate/test.h5"),
        timing=results("virgo/generate/timing.json"),
    log:
        logs("virgo/generate.log"),
    benchmark:
        benchmarks("virgo/generate.tsv")
    conda:
        conda_env("torch")
    threads: 1
    resources:
        gpu=1,
        runtime=per_attempt(30),
        mem_mb=per_attempt(8000),
    params:
        generate=config["virgo"]["generate"],
        preprocess=config["virgo"]["preprocess"],
        device=config["device"],
    script:
        "../../scripts/virgo/generate.py"


rule virgo_validate:
    input:
        generated=results("virgo/generate/test.h5"),
        selection=results("virgo/preprocess/selection.json"),
        timing=results("virgo/generate/timing.json"),
    output:
        metrics=results("virgo/validate/metrics.json"),
        curves=results("virgo/validate/accuracy_vs_threshold.csv"),
    log:
        logs("virgo/validate.log"),
    benchmark:
        benchmarks("virgo/validate.tsv")
    conda:
        conda_env("report")
    threads: 1
    resources:
        runtime=per_attempt(30),
        mem_mb=per_attempt(4000),
    params:
        validate=config["virgo"]["validate"],
    script:
        "../../scripts/virgo/validate.py"


rule virgo_report:
    input:
        generated=results("virgo/generate/test.h5"),
        metrics=results("virgo/validate/metrics.json"),
        curves=results("virgo/validate/accuracy_vs_threshold.csv"),
        ranking=results("virgo/preprocess/channel_ranking.csv"),
    output:
        summary=report(
            results("virgo/report/summary.html"),
            caption="../report/virgo/summary.rst",
            category="Virgo",
            subcategory="Metrics",
            labels={"model": "glitchflow", "figure": "summary and channel ranking"},
        ),
        examples=report(
            results("virgo/report/examples.png"),
            caption="../report/virgo/examples.rst",
            category="Virgo",
            subcategory="Spectrograms",
            labels={"model": "glitchflow", "figure": "examples"},
        ),
        accuracy=report(
            results("virgo/report/accuracy_vs_threshold.png"),
            caption="../report/virgo/accuracy.rst",
            category="Virgo",
            subcategory="Validation",
            labels={"model": "glitchflow", "figure": "accuracy vs threshold"},
        ),
    log:
        logs("virgo/report.log"),
    benchmark:
        benchmarks("virgo/report.tsv")
    conda:
        conda_env("report")
    threads: 1
    resources:
        runtime=per_attempt(30),
        mem_mb=per_attempt(4000),
    params:
        report=config["virgo"]["report"],
    script:
        "../../scripts/virgo/report.py"


# The real GW150914 file lives outside the repository (../shared/data); where it is absent the
# Q-scan is left out of the targets (with a warning) and the simulated chain still runs.
rule virgo_qscan:
    input:
        gwosc=external_file(config["virgo"]["report"]["gwosc_file"]),
    output:
        qscan=report(
            results("virgo/report/gw150914_qscan.png"),
            caption="../report/virgo/qscan.rst",
            category="Virgo",
            subcategory="Real data",
            labels={"model": "none", "figure": "GW150914 Q-scan"},
        ),
        qscan_json=results("virgo/report/gw150914_qscan.json"),
    log:
        logs("virgo/qscan.log"),
    benchmark:
        benchmarks("virgo/qscan.tsv")
    conda:
        conda_env("report")
    threads: 1
    resources:
        runtime=per_attempt(30),
        mem_mb=per_attempt(4000),
    params:
        report=config["virgo"]["report"],
        preprocess=config["virgo"]["preprocess"],
    script:
        "../../scripts/virgo/qscan.py"


# snakemake virgo_all: this twin alone
rule virgo_all:
    input:
        TWIN_TARGETS["virgo"],
