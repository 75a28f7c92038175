# Pulsar twin (ML-PPA): simulate -> convert -> preprocess -> train -> generate -> validate -> report.
from twins.pulsar import rules as pulsar_rules

PULSAR = config["pulsar"]
PULSAR_DATASET = "|".join(PULSAR["datasets"])
PULSAR_MODEL = "|".join(PULSAR["models"])
PULSAR_OBSERVATIONS = pulsar_rules.observations(config)
PULSAR_OBSERVATION = "|".join(PULSAR_OBSERVATIONS)
# each model's train settings, checked up front (a bad train_by_model entry fails the dry-run)
PULSAR_TRAIN = {
    model: pulsar_rules.model_train_settings(config, model)
    for model in PULSAR["models"]
}
PULSAR_BACKGROUNDS = pulsar_rules.backgrounds(config)
PULSAR_BACKGROUND = "|".join(PULSAR_BACKGROUNDS) or "no-background"
TWIN_TARGETS["pulsar"] = pulsar_rules.targets(config)


# Light rules run where Snakemake runs (no sbatch and queue wait for a few seconds of work).
localrules:
    pulsar_report,


# Every rule runs a step of twins.pulsar.steps, which imports the classifier (torch, tqdm): all use the torch env.


rule pulsar_simulate:
    input:
        # files the workflow does not make (the checkout's, the user's): see external_file in common.smk
        telescope=lambda wc: external_file(PULSAR["datasets"][wc.dataset]["telescope"]),
    output:
        fil=results("pulsar/simulate/{dataset}.fil"),
        truth=results("pulsar/simulate/{dataset}_truth.h5"),
        summary=results("pulsar/simulate/{dataset}.json"),
    log:
        logs("pulsar/simulate_{dataset}.log"),
    benchmark:
        benchmarks("pulsar/simulate_{dataset}.tsv")
    wildcard_constraints:
        dataset=PULSAR_DATASET,
    conda:
        conda_env("report")
    threads: 1
    resources:
        runtime=per_attempt(60),
        mem_mb=per_attempt(4000),
    params:
        dataset=lambda wc: PULSAR["datasets"][wc.dataset],
        frames=PULSAR["frames"],
        labelling=PULSAR["labelling"],
        seed=config["seed"],
        name=lambda wc: wc.dataset,
    script:
        "../../scripts/pulsar/simulate.py"


rule pulsar_convert:
    input:
        fil=results("pulsar/simulate/{dataset}.fil"),
        truth=results("pulsar/simulate/{dataset}_truth.h5"),
    output:
        frames=results("pulsar/frames/{dataset}.h5"),
    log:
        logs("pulsar/convert_{dataset}.log"),
    benchmark:
        benchmarks("pulsar/convert_{dataset}.tsv")
    wildcard_constraints:
        dataset=PULSAR_DATASET,
    conda:
        conda_env("report")
    threads: 1
    resources:
        runtime=per_attempt(30),
        mem_mb=per_attempt(4000),
    params:
        frames=PULSAR["frames"],
    script:
        "../../scripts/pulsar/convert.py"


rule pulsar_preprocess:
    input:
        frames=results("pulsar/frames/{dataset}.h5"),
    output:
        train=results("pulsar/preprocess/{dataset}/train.h5"),
        validation=results("pulsar/preprocess/{dataset}/validation.h5"),
        test=results("pulsar/preprocess/{dataset}/test.h5"),
    log:
        logs("pulsar/preprocess_{dataset}.log"),
    benchmark:
        benchmarks("pulsar/preprocess_{dataset}.tsv")
    wildcard_constraints:
        dataset=PULSAR_DATASET,
    conda:
        conda_env("report")
    threads: 1
    resources:
        runtime=per_attempt(30),
        mem_mb=per_attempt(6000),
    params:
        preprocess=PULSAR["preprocess"],
        seed=config["seed"],
        name=lambda wc: wc.dataset,
    script:
        "../../scripts/pulsar/preprocess.py"


rule pulsar_train:
    input:
        train=lambda wc: pulsar_rules.training_split(config, wc.model, "train"),
        validation=lambda wc: pulsar_rules.training_split(
            config, wc.model, "validation"
        ),
    output:
        model=results("pulsar/models/{model}/model.pt"),
        history=results("pulsar/models/{model}/history.csv"),
        losses=report(
            results("pulsar/models/{model}/losses.png"),
            caption="../report/pulsar/losses.rst",
            category="Pulsar",
            subcategory="Training",
            labels={"model": "{model}", "figure": "training losses"},
        ),
    log:
        logs("pulsar/train_{model}.log"),
    benchmark:
        benchmarks("pulsar/train_{model}.tsv")
    wildcard_constraints:
        model=PULSAR_MODEL,
    conda:
        conda_env("torch")
    threads: 2
    resources:
        gpu=1,
        runtime=per_attempt(120),
        mem_mb=per_attempt(8000),
    params:
        train=lambda wc: PULSAR_TRAIN[wc.model],
        frames=PULSAR["frames"],
        seed=config["seed"],
        device=config["device"],
        # not an output: Snakemake would delete it before a rerun, and a killed run resumes from it
        checkpoint=lambda wc: results(f"pulsar/models/{wc.model}/checkpoint.pt"),
        model=lambda wc: wc.model,
    script:
        "../../scripts/pulsar/train.py"


rule pulsar_generate:
    input:
        fil=lambda wc: pulsar_rules.observation_file(
            config, wc.observation, external_file
        ),
        model=results("pulsar/models/{model}/model.pt"),
    output:
        labels=results("pulsar/generate/{model}/{observation}_labels.h5"),
        reduced=results("pulsar/generate/{model}/{observation}_reduced.h5"),
        candidates=results("pulsar/generate/{model}/{observation}_candidates.csv"),
        summary=results("pulsar/generate/{model}/{observation}_summary.json"),
    log:
        logs("pulsar/generate_{model}_{observation}.log"),
    benchmark:
        benchmarks("pulsar/generate_{model}_{observation}.tsv")
    wildcard_constraints:
        model=PULSAR_MODEL,
        observation=PULSAR_OBSERVATION,
    conda:
        conda_env("torch")
    threads: 2
    resources:
        gpu=1,
        runtime=per_attempt(30),
        mem_mb=per_attempt(6000),
    params:
        generate=pulsar_rules.generate_settings(config),
        preprocess=PULSAR["preprocess"],
        flagging=PULSAR["flagging"],
        downsample=lambda wc: pulsar_rules.observation_downsample(
            config, wc.observation
        ),
        observation=lambda wc: wc.observation,
    script:
        "../../scripts/pulsar/generate.py"


rule pulsar_validate:
    input:
        model=results("pulsar/models/{model}/model.pt"),
        tests=expand(
            results("pulsar/preprocess/{dataset}/test.h5"), dataset=PULSAR["datasets"]
        ),
        summaries=expand(
            results("pulsar/generate/{{model}}/{observation}_summary.json"),
            observation=PULSAR_OBSERVATIONS,
        ),
    output:
        metrics=results("pulsar/validate/{model}/metrics.json"),
        snr=report(
            results("pulsar/validate/{model}/accuracy_vs_snr.png"),
            caption="../report/pulsar/accuracy_vs_snr.rst",
            category="Pulsar",
            subcategory="Validation: {model}",
            labels={"model": "{model}", "figure": "pulse recall vs S/N"},
        ),
        confusion=report(
            results("pulsar/validate/{model}/confusion.png"),
            caption="../report/pulsar/confusion.rst",
            category="Pulsar",
            subcategory="Validation: {model}",
            labels={"model": "{model}", "figure": "confusion matrix"},
        ),
    log:
        logs("pulsar/validate_{model}.log"),
    benchmark:
        benchmarks("pulsar/validate_{model}.tsv")
    wildcard_constraints:
        model=PULSAR_MODEL,
    conda:
        conda_env("torch")
    threads: 2
    resources:
        runtime=per_attempt(30),
        mem_mb=per_attempt(6000),
    params:
        validate=PULSAR["validate"],
        generate=pulsar_rules.generate_settings(
            config, pulsar_rules.VALIDATE_GENERATE_KEYS
        ),
        datasets=list(PULSAR["datasets"]),
        observations=PULSAR_OBSERVATIONS,
        masks=pulsar_rules.observation_masks(config),
        trained_on=lambda wc: PULSAR["models"][wc.model],
        seed=config["seed"],
        model=lambda wc: wc.model,
    script:
        "../../scripts/pulsar/validate.py"


# The stream search chain: inject pulses into real (and simulated) backgrounds -> search -> candidate images
# -> candidate classifier; then every observation is searched and its candidates classified.
rule pulsar_inject:
    input:
        background=lambda wc: pulsar_rules.background_file(
            config, wc.background, external_file
        ),
    # one job per background writes its three splits: each split is a minute of work at most, and one process
    # pays the start-up (torch, the real file read) once instead of three times
    output:
        train=results("pulsar/candidates/{background}/train.h5"),
        validation=results("pulsar/candidates/{background}/validation.h5"),
        test=results("pulsar/candidates/{background}/test.h5"),
    log:
        logs("pulsar/inject_{background}.log"),
    benchmark:
        benchmarks("pulsar/inject_{background}.tsv")
    wildcard_constraints:
        background=PULSAR_BACKGROUND,
    conda:
        conda_env("torch")
    # one core: its search is mostly single-threaded work on short realisations, and the demo's two
    # backgrounds then run side by side with the frame branch
    threads: 1
    resources:
        runtime=per_attempt(60),
        mem_mb=per_attempt(6000),
    params:
        background=lambda wc: PULSAR_BACKGROUNDS[wc.background],
        candidates=pulsar_rules.candidate_settings(config),
        search=PULSAR["search"],
        flagging=PULSAR["flagging"],
        seed=config["seed"],
        name=lambda wc: wc.background,
    script:
        "../../scripts/pulsar/inject.py"


rule pulsar_train_candidates:
    input:
        train=expand(
            results("pulsar/candidates/{background}/train.h5"),
            background=PULSAR_BACKGROUNDS,
        ),
        validation=expand(
            results("pulsar/candidates/{background}/validation.h5"),
            background=PULSAR_BACKGROUNDS,
        ),
    output:
        model=results("pulsar/candidate_model/model.pt"),
        history=results("pulsar/candidate_model/history.csv"),
        losses=report(
            results("pulsar/candidate_model/losses.png"),
            caption="../report/pulsar/losses.rst",
            category="Pulsar",
            subcategory="Training",
            labels={"model": "candidates", "figure": "training losses"},
        ),
    log:
        logs("pulsar/train_candidates.log"),
    benchmark:
        benchmarks("pulsar/train_candidates.tsv")
    conda:
        conda_env("torch")
    threads: 2
    resources:
        gpu=1,
        runtime=per_attempt(60),
        mem_mb=per_attempt(8000),
    params:
        train=PULSAR["candidates"]["train"],
        seed=config["seed"],
        device=config["device"],
        # not an output: Snakemake would delete it before a rerun, and a killed run resumes from it
        checkpoint=results("pulsar/candidate_model/checkpoint.pt"),
    script:
        "../../scripts/pulsar/train_candidates.py"


rule pulsar_search:
    input:
        fil=lambda wc: pulsar_rules.observation_file(
            config, wc.observation, external_file
        ),
        model=results("pulsar/candidate_model/model.pt"),
    output:
        candidates=results("pulsar/search/{observation}_candidates.csv"),
        reduced=results("pulsar/search/{observation}_reduced.h5"),
        summary=results("pulsar/search/{observation}_summary.json"),
    log:
        logs("pulsar/search_{observation}.log"),
    benchmark:
        benchmarks("pulsar/search_{observation}.tsv")
    wildcard_constraints:
        observation=PULSAR_OBSERVATION,
    conda:
        conda_env("torch")
    # no GPU: the stream search is CPU work (numpy FDMT); the classifier's share is small
    threads: 2
    resources:
        runtime=per_attempt(30),
        mem_mb=per_attempt(6000),
    params:
        search=PULSAR["search"],
        classify=PULSAR["candidates"]["classify"],
        observation=lambda wc: wc.observation,
    script:
        "../../scripts/pulsar/search.py"


rule pulsar_validate_search:
    input:
        model=results("pulsar/candidate_model/model.pt"),
        tests=expand(
            results("pulsar/candidates/{background}/test.h5"),
            background=PULSAR_BACKGROUNDS,
        ),
        summaries=expand(
            results("pulsar/search/{observation}_summary.json"),
            observation=PULSAR_OBSERVATIONS,
        ),
        candidates=expand(
            results("pulsar/search/{observation}_candidates.csv"),
            observation=PULSAR_OBSERVATIONS,
        ),
        truths=pulsar_rules.observation_truths(config),
        streams=pulsar_rules.observation_streams(config),
    output:
        metrics=results("pulsar/validate/search/metrics.json"),
        recall=report(
            results("pulsar/validate/search/recall_vs_snr.png"),
            caption="../report/pulsar/search_recall.rst",
            category="Pulsar",
            subcategory="Stream search",
            labels={"model": "candidates", "figure": "recall vs injected S/N"},
        ),
        candidates=report(
            results("pulsar/validate/search/candidates.png"),
            caption="../report/pulsar/search_candidates.rst",
            category="Pulsar",
            subcategory="Stream search",
            labels={"model": "candidates", "figure": "candidates (DM vs time)"},
        ),
        images=report(
            results("pulsar/validate/search/best_candidates.png"),
            caption="../report/pulsar/search_images.rst",
            category="Pulsar",
            subcategory="Stream search",
            labels={"model": "candidates", "figure": "best candidates' images"},
        ),
    log:
        logs("pulsar/validate_search.log"),
    benchmark:
        benchmarks("pulsar/validate_search.tsv")
    conda:
        conda_env("torch")
    threads: 2
    resources:
        runtime=per_attempt(30),
        mem_mb=per_attempt(6000),
    params:
        validate=PULSAR["validate"],
        classify=PULSAR["candidates"]["classify"],
        backgrounds=list(PULSAR_BACKGROUNDS),
        observations=PULSAR_OBSERVATIONS,
        truth_observations=pulsar_rules.simulated_observations(config),
        test_ranges=pulsar_rules.observation_test_ranges(config),
        seed=config["seed"],
    script:
        "../../scripts/pulsar/validate_search.py"


rule pulsar_report:
    input:
        metrics=expand(
            results("pulsar/validate/{model}/metrics.json"), model=PULSAR["models"]
        ),
        examples=pulsar_rules.example_frames(config),
        search=results("pulsar/validate/search/metrics.json"),
    output:
        table=report(
            results("pulsar/report/metrics.html"),
            caption="../report/pulsar/metrics.rst",
            category="Pulsar",
            subcategory="Metrics",
            labels={"model": "all", "figure": "metrics table"},
        ),
        csv=results("pulsar/report/metrics.csv"),
        examples=report(
            results("pulsar/report/example_frames.png"),
            caption="../report/pulsar/example_frames.rst",
            category="Pulsar",
            subcategory="Data",
            labels={"model": "all", "figure": "example frames per class"},
        ),
    log:
        logs("pulsar/report.log"),
    benchmark:
        benchmarks("pulsar/report.tsv")
    conda:
        conda_env("report")
    threads: 1
    params:
        models=list(PULSAR["models"]),
        seed=config["seed"],
    script:
        "../../scripts/pulsar/report.py"


# snakemake pulsar_all: this twin alone
rule pulsar_all:
    input:
        TWIN_TARGETS["pulsar"],
