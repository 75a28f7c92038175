# Lattice twin: simulate (HMC) -> convert -> preprocess -> train (flow) -> generate (NF-MCMC)
# -> validate -> report, one chain per ensemble named in lattice.run.
from twins.lattice import rules as lattice_rules

LATTICE_RUN = lattice_rules.ensembles_to_run(config)
# Rule-level constraint (not a global one) so other twins may use the same wildcard name.
LATTICE_ENSEMBLE = lattice_rules.ensemble_pattern(config)
TWIN_TARGETS["lattice"] = lattice_rules.targets(config)


# Light rules run where Snakemake runs (no sbatch and queue wait for a few seconds of work).
localrules:
    lattice_report,


rule lattice_simulate:
    output:
        chain=results("lattice/simulate/{ensemble}.npz"),
        timing=results("lattice/simulate/{ensemble}.json"),
    log:
        logs("lattice/simulate_{ensemble}.log"),
    benchmark:
        benchmarks("lattice/simulate_{ensemble}.tsv")
    wildcard_constraints:
        ensemble=LATTICE_ENSEMBLE,
    conda:
        conda_env("torch")
    threads: 1
    resources:
        runtime=per_attempt(60),
        mem_mb=per_attempt(2000),
    params:
        spec=lambda wc: lattice_rules.ensemble_slice(config, wc.ensemble, "simulate"),
        ensemble=lambda wc: wc.ensemble,
        seed=config["seed"],
    script:
        "../../scripts/lattice/simulate.py"


rule lattice_convert:
    input:
        chain=results("lattice/simulate/{ensemble}.npz"),
    output:
        ensemble=results("lattice/hmc/{ensemble}.h5"),
    log:
        logs("lattice/convert_{ensemble}.log"),
    benchmark:
        benchmarks("lattice/convert_{ensemble}.tsv")
    wildcard_constraints:
        ensemble=LATTICE_ENSEMBLE,
    conda:
        conda_env("torch")
    threads: 1
    resources:
        runtime=per_attempt(10),
        mem_mb=per_attempt(2000),
    params:
        spec=lambda wc: lattice_rules.ensemble_slice(config, wc.ensemble, "simulate"),
        ensemble=lambda wc: wc.ensemble,
        seed=config["seed"],
    script:
        "../../scripts/lattice/convert.py"


rule lattice_preprocess:
    input:
        ensemble=results("lattice/hmc/{ensemble}.h5"),
    output:
        observables=results("lattice/observables/{ensemble}_hmc.json"),
    log:
        logs("lattice/preprocess_{ensemble}.log"),
    benchmark:
        benchmarks("lattice/preprocess_{ensemble}.tsv")
    wildcard_constraints:
        ensemble=LATTICE_ENSEMBLE,
    conda:
        conda_env("torch")
    threads: 1
    resources:
        runtime=per_attempt(10),
        mem_mb=per_attempt(2000),
    params:
        spec=lambda wc: lattice_rules.ensemble_slice(config, wc.ensemble, "physics"),
        ensemble=lambda wc: wc.ensemble,
    script:
        "../../scripts/lattice/preprocess.py"


rule lattice_train:
    output:
        model=results("lattice/models/{ensemble}/model.pt"),
        history=results("lattice/models/{ensemble}/history.csv"),
        figure=report(
            results("lattice/models/{ensemble}/training.png"),
            caption="../report/lattice/training.rst",
            category="Lattice",
            subcategory="Training",
            labels={"ensemble": "{ensemble}", "figure": "loss and ESS"},
        ),
    log:
        logs("lattice/train_{ensemble}.log"),
    benchmark:
        benchmarks("lattice/train_{ensemble}.tsv")
    wildcard_constraints:
        ensemble=LATTICE_ENSEMBLE,
    conda:
        conda_env("torch")
    threads: 1
    resources:
        gpu=1,
        runtime=per_attempt(60),
        mem_mb=per_attempt(4000),
    params:
        spec=lambda wc: lattice_rules.ensemble_slice(config, wc.ensemble, "train"),
        ensemble=lambda wc: wc.ensemble,
        seed=config["seed"],
        device=config["device"],
        # Not an output: Snakemake would delete it before a rerun, and a killed training resumes from it.
        checkpoint=lambda wc: results(f"lattice/models/{wc.ensemble}/checkpoint.pt"),
    script:
        "../../scripts/lattice/train.py"


rule lattice_generate:
    input:
        model=results("lattice/models/{ensemble}/model.pt"),
    output:
        ensemble=results("lattice/nfmcmc/{ensemble}.h5"),
        timing=results("lattice/nfmcmc/{ensemble}.json"),
    log:
        logs("lattice/generate_{ensemble}.log"),
    benchmark:
        benchmarks("lattice/generate_{ensemble}.tsv")
    wildcard_constraints:
        ensemble=LATTICE_ENSEMBLE,
    conda:
        conda_env("torch")
    threads: 1
    resources:
        gpu=1,
        runtime=per_attempt(30),
        mem_mb=per_attempt(4000),
    params:
        spec=lambda wc: lattice_rules.ensemble_slice(config, wc.ensemble, "generate"),
        ensemble=lambda wc: wc.ensemble,
        seed=config["seed"],
    script:
        "../../scripts/lattice/generate.py"


rule lattice_validate:
    input:
        hmc=results("lattice/hmc/{ensemble}.h5"),
        nfmcmc=results("lattice/nfmcmc/{ensemble}.h5"),
        observables=results("lattice/observables/{ensemble}_hmc.json"),
        simulate_timing=results("lattice/simulate/{ensemble}.json"),
        generate_timing=results("lattice/nfmcmc/{ensemble}.json"),
    output:
        summary=results("lattice/validate/{ensemble}.json"),
        histogram=report(
            results("lattice/validate/{ensemble}_histogram.png"),
            caption="../report/lattice/histogram.rst",
            category="Lattice",
            subcategory="Validation",
            labels={"ensemble": "{ensemble}", "figure": "M or Q histogram"},
        ),
    log:
        logs("lattice/validate_{ensemble}.log"),
    benchmark:
        benchmarks("lattice/validate_{ensemble}.tsv")
    wildcard_constraints:
        ensemble=LATTICE_ENSEMBLE,
    conda:
        conda_env("torch")
    threads: 1
    resources:
        runtime=per_attempt(10),
        mem_mb=per_attempt(2000),
    params:
        spec=lambda wc: lattice_rules.ensemble_slice(config, wc.ensemble, "physics"),
        ensemble=lambda wc: wc.ensemble,
    script:
        "../../scripts/lattice/validate.py"


rule lattice_report:
    input:
        summaries=lattice_rules.validation_summaries(config),
    output:
        table=report(
            results("lattice/report/summary.html"),
            caption="../report/lattice/summary.rst",
            category="Lattice",
            subcategory="Summary",
            labels={"ensemble": "all", "figure": "observables and cost table"},
        ),
        cost=results("lattice/report/cost.csv"),
        acceptance=report(
            results("lattice/report/acceptance_vs_L.png"),
            caption="../report/lattice/acceptance.rst",
            category="Lattice",
            subcategory="Summary",
            labels={"ensemble": "all", "figure": "acceptance vs L"},
        ),
    log:
        logs("lattice/report.log"),
    benchmark:
        benchmarks("lattice/report.tsv")
    conda:
        conda_env("report")
    threads: 1
    params:
        run=LATTICE_RUN,
    script:
        "../../scripts/lattice/report.py"


# snakemake lattice_all: this twin alone
rule lattice_all:
    input:
        TWIN_TARGETS["lattice"],
