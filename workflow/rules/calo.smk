# Calorimeter twin: simulate -> convert -> preprocess -> train -> generate -> validate -> report.
from twins.calo import rules as calo_rules

CALO_FIGURES = {
    "e_ratio": "deposited / incident energy",
    "longitudinal_profile": "longitudinal profile",
    "radial_profile": "radial profile",
    "centre_of_energy": "centre of energy per layer",
    "shower_width": "shower width per layer",
    "n_hit": "number of hit cells",
    "cell_spectrum": "cell-energy spectrum",
    "average_shower": "average shower (3 projections)",
    "e_ratio_per_energy_bin": "response and resolution per energy bin",
}

# Rule-level constraints (not global ones) so other twins may use the same wildcard names.
CALO_MODEL = "|".join(config["calo"]["models"])
TWIN_TARGETS["calo"] = calo_rules.targets(config)


# Light rules run where Snakemake runs (no sbatch and queue wait for a few seconds of work).
localrules:
    calo_report,


# Simulation is the expensive, deterministic step: workflows sharing SNAKEMAKE_OUTPUT_CACHE reuse it (--cache).
# Snakemake forbids benchmark: on cached rules; the timing output records the simulator's wall time instead.
rule calo_simulate:
    input:
        # files the workflow does not make (the checkout's, the user's): see external_file in common.smk
        geometry=external_file(config["calo"]["geometry"]),
        materials=[external_file(path) for path in calo_rules.materials_files(config)],
    output:
        # one multiext so the between-workflow cache (--cache) can store both files; calo_convert gathers
        # the timings, so nothing later needs a chunk file (temp() when keep_chunk_files is false)
        chunk_files(
            multiext(
                results("calo/simulate/chunk_{chunk}"), showers=".root", timing=".json"
            )
        ),
    log:
        logs("calo/simulate_{chunk}.log"),
    wildcard_constraints:
        chunk=r"\d+",
    cache: "omit-software"
    conda:
        conda_env("calo-sim")
    threads: 1
    resources:
        runtime=per_attempt(120),
        mem_mb=per_attempt(4000),
    params:
        simulate=config["calo"]["simulate"],
        seed=config["seed"],
        chunk=lambda wc: int(wc.chunk),
        # what --cache hashes covers params, not the library: the simulator's code goes in here
        code=calo_rules.simulator_code(),
    script:
        "../../scripts/calo/simulate.py"


rule calo_convert:
    input:
        showers=calo_rules.source_files(config, external_file),
        timing=calo_rules.simulation_timings(config),
    output:
        showers=results("calo/showers.h5"),
        # the simulator's wall time per chunk (empty for external files): the speed ratio's denominator
        timing=results("calo/simulate/timing.json"),
    log:
        logs("calo/convert.log"),
    benchmark:
        benchmarks("calo/convert.tsv")
    conda:
        conda_env("calo-sim")
    threads: 1
    resources:
        runtime=per_attempt(60),
        mem_mb=per_attempt(4000),
    params:
        convert=config["calo"]["convert"],
    script:
        "../../scripts/calo/convert.py"


rule calo_preprocess:
    input:
        showers=results("calo/showers.h5"),
    output:
        train=results("calo/preprocess/train.h5"),
        validation=results("calo/preprocess/validation.h5"),
        test=results("calo/preprocess/test.h5"),
    log:
        logs("calo/preprocess.log"),
    benchmark:
        benchmarks("calo/preprocess.tsv")
    conda:
        conda_env("calo-sim")
    threads: 1
    resources:
        runtime=per_attempt(60),
        mem_mb=per_attempt(8000),
    params:
        preprocess=config["calo"]["preprocess"],
        seed=config["seed"],
    script:
        "../../scripts/calo/preprocess.py"


rule calo_train:
    input:
        train=results("calo/preprocess/train.h5"),
        validation=results("calo/preprocess/validation.h5"),
    output:
        model=results("calo/models/{model}/model.pt"),
        history=results("calo/models/{model}/history.csv"),
        losses=report(
            results("calo/models/{model}/losses.png"),
            caption="../report/calo/losses.rst",
            category="Calorimeter",
            subcategory="Training",
            labels={"model": "{model}", "figure": "training losses"},
        ),
    log:
        logs("calo/train_{model}.log"),
    benchmark:
        benchmarks("calo/train_{model}.tsv")
    wildcard_constraints:
        model=CALO_MODEL,
    conda:
        conda_env("torch")
    threads: 2
    resources:
        gpu=1,
        runtime=per_attempt(720),
        mem_mb=per_attempt(16000),
    params:
        train=lambda wc: config["calo"]["train"][wc.model],
        seed=config["seed"],
        device=config["device"],
        # The checkpoint is not an output: Snakemake would delete it before a rerun, and a
        # killed training must resume from it.
        checkpoint=lambda wc: results(f"calo/models/{wc.model}/checkpoint.pt"),
        model=lambda wc: wc.model,
        gpus=lambda wc, resources: resources.gpu,
    script:
        "../../scripts/calo/train.py"


rule calo_generate:
    input:
        model=results("calo/models/{model}/model.pt"),
        test=results("calo/preprocess/test.h5"),
        # CaloINN's sampling temperature `auto` is chosen on it
        validation=results("calo/preprocess/validation.h5"),
    output:
        showers=results("calo/generate/{model}.h5"),
        timing=results("calo/generate/{model}.json"),
    log:
        logs("calo/generate_{model}.log"),
    benchmark:
        benchmarks("calo/generate_{model}.tsv")
    wildcard_constraints:
        model=CALO_MODEL,
    conda:
        conda_env("torch")
    threads: 2
    resources:
        gpu=1,
        runtime=per_attempt(60),
        mem_mb=per_attempt(8000),
    params:
        generate=lambda wc: calo_rules.generate_settings(config, wc.model),
        seed=config["seed"],
        device=config["device"],
        model=lambda wc: wc.model,
    script:
        "../../scripts/calo/generate.py"


rule calo_validate:
    input:
        reference=results("calo/preprocess/test.h5"),
        # disjoint simulated showers: the statistical floor of every metric
        independent=results("calo/preprocess/validation.h5"),
        generated=results("calo/generate/{model}.h5"),
        simulate_timing=results("calo/simulate/timing.json"),
        generate_timing=results("calo/generate/{model}.json"),
    output:
        **{
            name: report(
                results(f"calo/validate/{{model}}/{name}.png"),
                caption=f"../report/calo/{name}.rst",
                category="Calorimeter",
                subcategory="Validation: {model}",
                labels={"model": "{model}", "figure": label},
            )
            for name, label in CALO_FIGURES.items()
        },
        metrics=results("calo/validate/{model}/metrics.json"),
    log:
        logs("calo/validate_{model}.log"),
    benchmark:
        benchmarks("calo/validate_{model}.tsv")
    wildcard_constraints:
        model=CALO_MODEL,
    conda:
        conda_env("report")
    threads: 2
    resources:
        runtime=per_attempt(60),
        mem_mb=per_attempt(8000),
    params:
        validate=config["calo"]["validate"],
        seed=config["seed"],
        model=lambda wc: wc.model,
    script:
        "../../scripts/calo/validate.py"


rule calo_report:
    input:
        metrics=expand(
            results("calo/validate/{model}/metrics.json"),
            model=config["calo"]["models"],
        ),
    output:
        table=report(
            results("calo/report/metrics.html"),
            caption="../report/calo/metrics.rst",
            category="Calorimeter",
            subcategory="Metrics",
            labels={"model": "all", "figure": "metrics table"},
        ),
        csv=results("calo/report/metrics.csv"),
    log:
        logs("calo/report.log"),
    benchmark:
        benchmarks("calo/report.tsv")
    conda:
        conda_env("report")
    threads: 1
    params:
        models=config["calo"]["models"],
    script:
        "../../scripts/calo/report.py"


# snakemake calo_all: this twin alone
rule calo_all:
    input:
        TWIN_TARGETS["calo"],
