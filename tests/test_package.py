"""Rules of the package's shape: what an installed ragstate offers and hides, and which of its
parts may import which.

The repository keeps ``workflows/``, ``activities/`` and ``workers/`` at its top level, but they
are installed as ``ragstate.workflows``, ``ragstate.activities`` and ``ragstate.workers``; the
import rules are checked on the source with :mod:`ast`, so nothing here imports the modules
they are about.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from paths import ROOT

from ragstate.contracts import ErrorType, Workflow

RAGSTATE = ROOT / "ragstate"
#: The repository's top-level folders that the distribution installs under ``ragstate.``.
INSTALLED_UNDER_RAGSTATE = ("workflows", "activities", "workers")
#: What workflows may import besides the standard library, temporalio and each other: the
#: modules that are safe inside Temporal's workflow sandbox (no I/O, no heavy dependencies).
WORKFLOW_SAFE_RAGSTATE_MODULES = (
    "ragstate.contracts",
    "ragstate.models",
    "ragstate.temporal.conventions",
    "ragstate.temporal.priorities",  # pure: Priority values from a tenant name
    "ragstate.answers.citations",
    "ragstate.answers.abstention",  # pure: models and the analyzer, like citations
    "ragstate.answers.pricing",  # pure: list prices and sums of models (a follow-up's rewrite cost)
    "ragstate.evaluation.ranking_metrics",  # pure: nDCG and friends over ids (the re-index gate)
    "ragstate.models.summaries",  # models of the summarize stage
    "ragstate.workflows",
)


# --- the installed package, seen from outside the repository -----------------------------------


def run_outside_repository(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a command of the project's venv in ``folder`` with a clean environment: no
    PYTHONPATH and no repository on the path, only what the installation provides."""
    assert ROOT not in folder.parents, "the folder must be outside the repository"
    venv_bin = Path(sys.executable).parent  # not resolved: the venv's own bin/, where its scripts live
    env = {"PATH": os.pathsep.join([str(venv_bin), os.defpath]), "HOME": str(folder), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(list(args), cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def python_outside_repository(folder: Path, code: str) -> subprocess.CompletedProcess[str]:
    return run_outside_repository(folder, sys.executable, "-c", code)


@pytest.mark.parametrize("folder_name", INSTALLED_UNDER_RAGSTATE)
def test_repository_folders_are_not_top_level_packages(tmp_path, folder_name):
    """A user's own ``workflows`` (or ``activities``, ``workers``) package is never shadowed."""
    result = python_outside_repository(tmp_path, f"import {folder_name}")
    assert result.returncode != 0
    assert f"ModuleNotFoundError: No module named '{folder_name}'" in result.stderr, result.stderr


def test_public_api_imports_outside_the_repository(tmp_path):
    result = python_outside_repository(
        tmp_path, "from ragstate import SyncRagClient, RagClient, InvalidQueryError, RagError, __version__"
    )
    assert result.returncode == 0, result.stderr


def test_moved_entry_points_keep_their_old_paths(tmp_path):
    """Paths a deployment names outside Python (a Lambda function's handler) stay importable
    after the package was cut into subpackages."""
    result = python_outside_repository(
        tmp_path,
        "import ragstate.gateway_lambda as old, ragstate.gateway.aws_lambda as new; assert old.handler is new.handler",
    )
    assert result.returncode == 0, result.stderr


def test_repository_folders_import_as_ragstate_subpackages(tmp_path):
    result = python_outside_repository(tmp_path, "import ragstate.workflows, ragstate.activities, ragstate.workers")
    assert result.returncode == 0, result.stderr


def test_console_script_prints_the_installed_version(tmp_path):
    console_script = Path(sys.executable).parent / "ragstate"
    result = run_outside_repository(tmp_path, str(console_script), "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"ragstate {importlib.metadata.version('ragstate')}"


# --- import rules, read from the source ---------------------------------------------------------


def python_files(*folders: Path) -> list[Path]:
    return sorted(path for folder in folders for path in folder.rglob("*.py") if "__pycache__" not in path.parts)


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def installed_package(path: Path) -> list[str]:
    """The dotted package a source file is installed in, as parts: ``workflows/query.py`` is in
    ``ragstate.workflows``, ``ragstate/store/edge.py`` in ``ragstate.store``."""
    parts = list(path.relative_to(ROOT).parent.parts)
    return ["ragstate", *parts] if parts[0] in INSTALLED_UNDER_RAGSTATE else parts


def imported_names(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute dotted name) of everything the file imports, at any depth (imports inside
    functions too). ``from a.b import c`` gives ``a.b.c``: the most specific name, which is the
    submodule when ``c`` is one (``from ragstate import workflows``)."""
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the installed package, not the folder
                package = installed_package(path)
                base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [node.module])])
            else:
                base = node.module or ""
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def is_within(name: str, module: str) -> bool:
    """Whether ``name`` is ``module`` or something inside it."""
    return name == module or name.startswith(module + ".")


def location(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def is_cli(path: Path) -> bool:
    """The CLI starts workers and so may import them: ``ragstate/cli.py``, or the package it became."""
    return path == RAGSTATE / "cli.py" or RAGSTATE / "cli" in path.parents


def test_only_the_cli_imports_workflows_activities_and_workers():
    """``import ragstate`` (the client, the gateway) must not pull in the worker side."""
    worker_side = [f"ragstate.{name}" for name in INSTALLED_UNDER_RAGSTATE]
    hits = [
        f"{location(path, line)} imports {name}"
        for path in python_files(RAGSTATE)
        if not is_cli(path)
        for line, name in imported_names(path)
        if any(is_within(name, module) for module in worker_side)
    ]
    assert not hits, "\n".join(hits)


def test_no_product_module_imports_the_test_support_package():
    """``ragstate.testing`` starts servers and its plugin needs pytest: it serves tests (and the
    fault suite, and benchmarks), and nothing the product runs imports it."""
    testing = RAGSTATE / "testing"
    hits = [
        f"{location(path, line)} imports {name}"
        for path in python_files(RAGSTATE, *(ROOT / name for name in INSTALLED_UNDER_RAGSTATE))
        if testing not in path.parents
        for line, name in imported_names(path)
        if is_within(name, "ragstate.testing")
    ]
    assert not hits, "\n".join(hits)


def test_workflows_import_only_sandbox_safe_modules():
    def allowed(name: str) -> bool:
        top_level = name.partition(".")[0]
        return (
            top_level in sys.stdlib_module_names
            or top_level == "temporalio"
            or any(is_within(name, module) for module in WORKFLOW_SAFE_RAGSTATE_MODULES)
        )

    workflow_files = python_files(ROOT / "workflows")
    assert workflow_files
    hits = [
        f"{location(path, line)} imports {name}"
        for path in workflow_files
        for line, name in imported_names(path)
        if not allowed(name)
    ]
    assert not hits, "\n".join(hits)


def module_name(path: Path) -> str:
    """The dotted name a source file is installed as (a package's ``__init__`` is the package)."""
    parts = installed_package(path)
    return ".".join(parts if path.name == "__init__.py" else [*parts, path.stem])


def runtime_imports(path: Path) -> Iterator[tuple[int, str]]:
    """Like :func:`imported_names`, less what sits under ``if TYPE_CHECKING:`` (never executed)."""
    tree = parse(path)
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    typing_lines = {getattr(node, "lineno", None) for node in ast.walk(tree) if id(node) in typing_only}
    for line, name in imported_names(path):
        if line not in typing_lines:
            yield line, name


def import_graph() -> dict[str, set[str]]:
    """Module -> the ragstate modules it runs when imported, at any depth (imports inside
    functions count: they run too, later). Importing ``a.b.c`` also runs the ``__init__`` of ``a.b``,
    which counts unless the importer lives inside ``a.b`` (its own package has begun importing by
    then); a name taken from a package's ``__init__`` always counts."""
    files = python_files(RAGSTATE, *(ROOT / name for name in INSTALLED_UNDER_RAGSTATE))
    modules = {module_name(path): path for path in files if path.name != "__main__.py"}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        own_packages = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
        if path.name == "__init__.py":
            own_packages.add(module)
        targets: set[str] = set()
        for _, name in runtime_imports(path):
            parts = name.split(".")
            prefixes = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
            target = next((p for p in prefixes if p in modules), None)
            if target is None:
                continue
            steps = target.split(".")
            packages = {".".join(steps[:i]) for i in range(2, len(steps))}  # "ragstate" itself: always loaded
            targets |= {target} | {p for p in packages if p in modules and p not in own_packages}
        graph[module] = targets - {module}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_import_cycles_are_found():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_cycle():
    """No cycle between ragstate's modules, also not through imports inside functions: each
    part can be read, tested and replaced from the bottom up (docs/architecture.md)."""
    graph = import_graph()
    assert "ragstate.models.query" in graph["ragstate.models"], "the graph must see the package's own imports"
    cycles = import_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(cycle) for cycle in cycles)


# --- names from the contracts module --------------------------------------------------------------


def all_listed_strings(tree: ast.Module) -> set[int]:
    """ids of the string nodes in ``__all__``: they name Python objects (the RagQuery model, the
    InvalidQuery exception), not the Temporal types that happen to share their names."""
    listed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        if node.value is not None and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in targets
        ):
            listed.update(id(inner) for inner in ast.walk(node.value) if isinstance(inner, ast.Constant))
    return listed


def test_error_and_workflow_types_are_written_only_in_contracts():
    """Every other module names them through ``ragstate.contracts``, so a rename is one edit.
    (Docstrings never match: they are longer strings than a bare type name.)"""
    workflow_types = {value for key, value in vars(Workflow).items() if key.isupper() and isinstance(value, str)}
    contract_names = set(ErrorType.ALL) | workflow_types
    sources = python_files(RAGSTATE, *(ROOT / name for name in INSTALLED_UNDER_RAGSTATE))
    hits = []
    for path in sources:
        if path == RAGSTATE / "contracts.py":
            continue
        tree = parse(path)
        listed = all_listed_strings(tree)
        literals = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in contract_names and id(node) not in listed
        ]
        hits += [
            f"{location(path, node.lineno)} {node.value!r}"
            for node in sorted(literals, key=lambda node: (node.lineno, node.col_offset))
        ]
    assert not hits, "string literals that belong in ragstate.contracts:\n" + "\n".join(hits)
