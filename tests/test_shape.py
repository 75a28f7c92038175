"""The one shape of all five twins (docs/architecture.md), checked so it cannot drift.

Every twin has the same modules; every rule with a script has a step of the same name and signature;
every script is the same two lines; no module keeps defaults the schema has, loads pickles that could run
code, or imports in a circle; no function in src/ is longer than 80 lines unless named here with the reason.
"""

from __future__ import annotations

import ast
import inspect
import re
from importlib import import_module
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "twins"
TWINS = ("calo", "tpc", "lattice", "pulsar", "virgo")
MODULES = ("steps.py", "rules.py", "io.py", "metrics.py", "figures.py", "report.py", "models/__init__.py")
STEP_PARAMETERS = ["inputs", "outputs", "params", "threads"]
MAX_FUNCTION_LINES = 80
# function (module:qualified name) -> why it stays longer than MAX_FUNCTION_LINES
LONG_FUNCTIONS: dict[str, str] = {}


def rules_with_scripts(twin: str) -> dict[str, str]:
    """rule step name -> script path of the twin's rules that run a script."""
    text = (REPO / "workflow" / "rules" / f"{twin}.smk").read_text()
    found = {}
    for match in re.finditer(rf"^rule {twin}_(\w+):\n((?:[ \t]+.*\n|\n)*)", text, re.M):
        script = re.search(r'^    script:\s*\n\s*"([^"]+)"', match[2], re.M)
        if script:
            found[match[1]] = script[1]
    return found


@pytest.mark.parametrize("twin", TWINS)
def test_every_twin_has_the_same_modules(twin):
    missing = [name for name in MODULES if not (SRC / twin / name).exists()]
    assert not missing, f"twins.{twin} lacks {missing} (see docs/architecture.md)"


@pytest.mark.parametrize("twin", TWINS)
def test_every_rule_script_calls_the_step_of_its_name_through_core_steps(twin):
    steps = import_module(f"twins.{twin}.steps")
    for step, script in rules_with_scripts(twin).items():
        path = (REPO / "workflow" / "rules" / script).resolve()
        assert path == REPO / "scripts" / twin / f"{step}.py", f"rule {twin}_{step} runs {path}"
        function = getattr(steps, step, None)
        assert callable(function), f"twins.{twin}.steps has no function {step} for rule {twin}_{step}"
        assert list(inspect.signature(function).parameters) == STEP_PARAMETERS, f"{twin}.steps.{step}"
        body = ast.parse(path.read_text()).body[1:]  # all but the docstring
        imports = ast.parse(f"from twins.{twin}.steps import {step}\nfrom twins.core.steps import run\n").body
        call = ast.parse(f"run({step}, snakemake)").body
        # the two imports in either order (ruff sorts them by the twin's name)
        assert sorted(ast.dump(node) for node in body[:2]) == sorted(ast.dump(node) for node in imports) and ast.dump(
            ast.Module(body=body[2:], type_ignores=[])
        ) == ast.dump(ast.Module(body=call, type_ignores=[])), (
            f"{path.relative_to(REPO)} is not the two-line script form"
        )


def _functions(tree: ast.AST, prefix: str = ""):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield f"{prefix}{node.name}", node
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")


def test_no_function_in_src_is_longer_than_80_lines():
    too_long = []
    for path in sorted(SRC.rglob("*.py")):
        module = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
        for name, node in _functions(ast.parse(path.read_text())):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES and f"{module}:{name}" not in LONG_FUNCTIONS:
                too_long.append(f"{module}:{name} ({length} lines)")
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines: {too_long}"


def test_no_module_unpickles_files_that_could_run_code():
    offenders = [
        str(path.relative_to(REPO))
        for path in SRC.rglob("*.py")
        if re.search(r"weights_only\s*=\s*False|pickle\.loads?\(|allow_pickle\s*=\s*True", path.read_text())
    ]
    assert not offenders, f"load model and data files safely (twins.core.model_file): {offenders}"


def test_no_module_keeps_a_copy_of_the_schema_defaults():
    """Defaults live in workflow/schemas only; library code gets them through twins.core.config.resolve."""
    offenders = [
        str(path.relative_to(REPO))
        for path in SRC.rglob("*.py")
        if re.search(r"^_?DEFAULT_[A-Z_]* = \{|^def resolve_settings\(", path.read_text(), re.M)
    ]
    assert not offenders, offenders


def _imports(path: Path) -> set[str]:
    """twins modules that `path` imports, also inside functions: a deferred import hides a cycle, not breaks it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("twins"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (SRC.parent / Path(*candidate.split("."))).with_suffix(".py").exists()
                found.add(candidate if is_module else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("twins")}
    return found


def test_no_circular_imports():
    graph = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        graph[name] = _imports(path)
    cycles = []

    def visit(node, stack):
        for target in graph.get(node, ()):
            if target in stack:
                cycles.append(stack[stack.index(target) :] + [target])
            elif target not in done:
                visit(target, stack + [target])
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start])
    assert not cycles, f"circular imports: {cycles[:3]}"
