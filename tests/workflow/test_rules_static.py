"""Static checks of the workflow: rule directives, env files, lint, formatting, dry-runs."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO, planned_jobs, snakemake
from twins.core.workflow import conda_env

RULE_FILES = sorted((REPO / "workflow" / "rules").glob("*.smk"))
GPU_STEPS = ("train", "generate", "train_candidates")
# import name -> conda package name, where they differ (referencing comes with jsonschema >= 4.18)
CONDA_NAME = {
    "torch": "pytorch",
    "yaml": "pyyaml",
    "sklearn": "scikit-learn",
    "matplotlib": "matplotlib-base",
    "referencing": "jsonschema",
}
STDLIB = set(sys.stdlib_module_names)


def rule_blocks() -> dict[str, str]:
    blocks = {}
    for path in RULE_FILES:
        text = path.read_text()
        for match in re.finditer(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", text, re.M):
            blocks[match[1]] = match[2]
    return blocks


def directive(block: str, name: str) -> str | None:
    match = re.search(rf"^    {name}:\s*\n?\s*\"([^\"]+)\"", block, re.M)
    return match[1] if match else None


def conda_file(block: str) -> str | None:
    """The env file of a rule's `conda:` (a path, or conda_env("name") from twins.core.workflow)."""
    match = re.search(r'^    conda:\s*\n?\s*conda_env\("([\w-]+)"\)', block, re.M)
    return conda_env(match[1]) if match else directive(block, "conda")


def target_rule(block: str) -> bool:
    """A rule that only gathers outputs (all, <twin>_all): no job of its own to log or benchmark."""
    return not re.search(r"^    (script|shell|run|params):", block, re.M)


def test_every_twin_has_a_target_rule_with_its_outputs():
    blocks = rule_blocks()
    for twin in ("calo", "tpc", "lattice", "pulsar", "virgo"):
        assert f"{twin}_all" in blocks and target_rule(blocks[f"{twin}_all"])


def test_there_are_calo_rules_for_every_step():
    names = set(rule_blocks())
    for step in ("simulate", "convert", "preprocess", "train", "generate", "validate", "report"):
        assert f"calo_{step}" in names


@pytest.mark.parametrize("rule", sorted(name for name, block in rule_blocks().items() if not target_rule(block)))
def test_every_rule_has_params_log_benchmark_conda(rule):
    block = rule_blocks()[rule]
    for name in ("params", "log", "conda"):
        assert re.search(rf"^    {name}:", block, re.M), f"rule {rule} lacks {name}:"
    # Snakemake forbids benchmark: on cached rules; those record their wall time in a timing output
    if re.search(r"^    cache:", block, re.M):
        assert "timing=" in block, f"cached rule {rule} must write a timing output instead of a benchmark"
    else:
        assert re.search(r"^    benchmark:", block, re.M), f"rule {rule} lacks benchmark:"
    assert (REPO / "workflow" / "rules" / conda_file(block)).resolve().exists()
    if rule.split("_", 1)[1] in GPU_STEPS:
        assert re.search(r"^\s+gpu=\d", block, re.M), f"rule {rule} must declare resources: gpu"


def _import_nodes(tree: ast.AST, functions: frozenset[str]) -> list[ast.AST]:
    """The nodes of a module that run when it is imported (function bodies left out: a step defers what only
    its own rule's env has), plus the bodies of its top-level `functions` named (those a script or module
    imports from it)."""
    nodes: list[ast.AST] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if child.name in functions and node is tree:
                    nodes.extend(ast.walk(child))
                continue
            nodes.append(child)
            visit(child)

    visit(tree)
    return nodes


def third_party_imports(
    path: Path, seen: set[tuple[Path, frozenset]] | None = None, functions: frozenset[str] = frozenset()
) -> set[str]:
    """Top-level third-party modules a script needs: what its modules import when imported, following the
    `twins` library, and what the functions it imports from there import when they run."""
    seen = set() if seen is None else seen
    if (path, functions) in seen:
        return set()
    seen.add((path, functions))
    found = set()
    tree = ast.parse(path.read_text())
    # imports inside `try: ... except ImportError` are optional by design (e.g. torch in seeding)
    optional = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.Try)
        and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError") for h in node.handlers
        )
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    for node in _import_nodes(tree, functions):
        if id(node) in optional:
            continue
        modules = []
        if isinstance(node, ast.Import):
            modules = [(a.name, frozenset()) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = frozenset(a.name for a in node.names)
            modules = [(node.module, names)] + [(f"{node.module}.{a.name}", frozenset()) for a in node.names]
        for module, names in modules:
            top = module.split(".")[0]
            if top == "twins":
                source = REPO / "src" / Path(*module.split("."))
                for candidate in (source.with_suffix(".py"), source / "__init__.py"):
                    if candidate.exists():
                        found |= third_party_imports(candidate, seen, names)
            elif top not in STDLIB and top not in ("snakemake", "__future__"):
                found.add(top)
    return found


def env_packages(env: dict) -> set[str]:
    """Package names of an env file (pytorch-gpu, conda-forge's CUDA build, provides pytorch)."""
    names = {re.split(r"[<>=! ]", d)[0] for d in env["dependencies"] if isinstance(d, str)}
    return names | ({"pytorch"} if "pytorch-gpu" in names else set())


def test_gpu_rules_get_a_cuda_build_of_torch():
    """A plain `pytorch` resolves to the CPU build on a login node: the env of every GPU rule names pytorch-gpu."""
    for rule, block in rule_blocks().items():
        if re.search(r"^        gpu=", block, re.M):
            env = yaml.safe_load((REPO / "workflow" / "rules" / conda_file(block)).read_text())
            assert "pytorch-gpu" in env_packages(env), f"rule {rule} holds a GPU but its env has no pytorch-gpu"


@pytest.mark.parametrize("rule", sorted(name for name, block in rule_blocks().items() if not target_rule(block)))
def test_rule_env_provides_every_module_its_script_imports(rule):
    block = rule_blocks()[rule]
    script = directive(block, "script")
    if script is None:
        pytest.skip(f"rule {rule} runs no script")
    env = yaml.safe_load((REPO / "workflow" / "rules" / conda_file(block)).read_text())
    packages = env_packages(env)
    needed = third_party_imports((REPO / "workflow" / "rules" / script).resolve()) - {"geant4_pybind"}
    missing = {m for m in needed if CONDA_NAME.get(m, m) not in packages}
    assert not missing, f"rule {rule}: env {conda_file(block)} lacks {sorted(missing)}"


def test_env_files_parse_and_pin():
    for path in (REPO / "envs").glob("*.yaml"):
        env = yaml.safe_load(path.read_text())
        assert env["channels"] and env["dependencies"], path
        for dep in env["dependencies"]:
            if isinstance(dep, str) and dep.split("=")[0] != "python":
                assert re.search(r"[<>=]", dep), f"{path.name}: {dep} is not pinned"


def test_lint_is_clean():
    result = snakemake(None, "--lint")
    assert "Congratulations" in result.stdout + result.stderr


def test_snakefmt_is_clean():
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", str(REPO / "workflow")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_dry_run_plans_the_whole_calo_chain():
    jobs = planned_jobs(snakemake(None, "-n", "--forceall").stdout)
    assert (
        jobs["calo_simulate"] == yaml.safe_load((REPO / "config/config.yaml").read_text())["calo"]["simulate"]["chunks"]
    )
    for step in ("convert", "preprocess", "train", "generate", "validate", "report"):
        assert jobs[f"calo_{step}"] >= 1


def test_slurm_profile_dry_run_requests_gpus_for_training():
    env = {
        "TWINS_SLURM_PARTITION": "cpu",
        "TWINS_SLURM_ACCOUNT": "proj",
        "TWINS_SLURM_GPU_PARTITION": "gpu",
        "TWINS_SLURM_GPU_MODEL": "a100",
    }
    out = snakemake(None, "-n", "--forceall", "--profile", str(REPO / "profiles" / "slurm"), env=env).stdout
    train = out.split("rule calo_train:")[1].split("\n\n")[0]
    assert "gpu=1" in train and "slurm_partition=gpu" in train and "gpu_model=a100" in train
    simulate = out.split("rule calo_simulate:")[1].split("\n\n")[0]
    assert "slurm_account=proj" in simulate and "cpus_per_task" not in simulate
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    assert profile["executor"] == "slurm" and "cpus_per_task" not in profile["default-resources"]


def test_bad_config_stops_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("calo:\n  simulate:\n    particle: muon\n")
    result = snakemake(None, "-n", "--configfile", str(bad), check=False)
    assert result.returncode != 0
    assert "calo.simulate.particle" in result.stderr + result.stdout
    assert "Job stats" not in result.stdout


def test_hpc_config_dry_runs_at_the_seeds_scale_with_gpu_resources():
    env = {
        "TWINS_SLURM_PARTITION": "cpu",
        "TWINS_SLURM_ACCOUNT": "proj",
        "TWINS_SLURM_GPU_PARTITION": "gpu",
        "TWINS_SLURM_GPU_MODEL": "a100",
    }
    hpc = yaml.safe_load((REPO / "config/hpc.yaml").read_text())
    out = snakemake(
        None,
        "-n",
        "--forceall",
        "--profile",
        str(REPO / "profiles" / "slurm"),
        "--configfile",
        str(REPO / "config/hpc.yaml"),
        env=env,
    ).stdout
    jobs = planned_jobs(out)
    assert jobs["calo_simulate"] == 60 and jobs["calo_train"] == 1
    for twin in hpc["twins"]:
        assert jobs.get(f"{twin}_report") == 1, f"{twin} is not planned at HPC scale"
    assert jobs["tpc_simulate"] == hpc["tpc"]["simulate"]["chunks"]
    assert jobs["lattice_train"] == len(hpc["lattice"]["run"])
    # every training and generation job asks SLURM for a GPU of the configured model on the GPU partition
    blocks = [
        (name, block) for name, block in re.findall(r"^rule (\w+):\n(.*?)(?:\n\n|\Z)", out, re.S | re.M) if "_" in name
    ]
    gpu_rules = {name for name, _ in blocks if name.split("_", 1)[1] in GPU_STEPS}
    assert gpu_rules >= {f"{twin}_train" for twin in hpc["twins"]}
    for name, block in blocks:
        resources = re.search(r"resources: (.*)", block)[1]
        assert "slurm_account=proj" in resources, name
        if name in gpu_rules:
            assert "gpu=1" in resources and "slurm_partition=gpu" in resources and "gpu_model=a100" in resources, name
        else:
            assert "slurm_partition=cpu" in resources and "gpu=" not in resources, name
