"""A CLUE run pays only for what it uses: scipy (~0.5 s to import) is for comparisons, not for every run, and
the xdist controller, which sends no request, imports none of the client, the scheduler or the tokenizers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import clue_checks

# Every module a run imports to collect, score and write its report when nothing is compared.
RUN_MODULES = ("clue_checks.plugin", "clue_checks.roles.adapters", "clue_checks.roles.xdist_worker",
               "clue_checks.roles.baseline", "clue_checks.report.numbers.aggregate", "clue_checks.report.write.pieces",
               "clue_checks.report.compare.baseline", "clue_checks.report.write.html", "clue_checks.report.write.outcome",
               "clue_checks.runner", "clue_checks.tasks.mednli")


def test_a_run_without_a_baseline_does_not_import_scipy():
    code = (f"import importlib, sys\nfor m in {RUN_MODULES!r}: importlib.import_module(m)\n"
            "from clue_checks.report.numbers.stats import interval, wilson\n"
            "wilson(3, 10); interval([0.0, 1.0, 1.0], binary=True)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'statsmodels')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_comparison_still_computes_with_scipy_imported_where_used():
    from clue_checks.report.compare.mcnemar import mcnemar_p, tango_interval
    from clue_checks.report.numbers.power import mcnemar_power, normal_detectable_drop

    assert mcnemar_p(0, 0) == 1.0 and mcnemar_p(10, 0) < 0.01
    low, high = tango_interval(10, 2, 100)
    assert -1 < low < -0.08 < high < 0
    assert 0 < mcnemar_power(1419, 0.02, 0.1) < 1 and normal_detectable_drop(0.01) > 0.02


# What only the processes that send requests need: the xdist controller sends none.
SAMPLE_SIDE = ("clue_checks.runner", "clue_checks.roles.session", "clue_checks.roles.single_process",
               "clue_checks.roles.xdist_worker", "clue_checks.endpoint.scheduler", "clue_checks.endpoint.client",
               "clue_checks.rendering", "clue_checks.server", "httpx2", "tokenizers")
PACKAGE = Path(clue_checks.__file__).parent


def _module_imports(name: str) -> set[str]:
    """What importing module `name` imports at once: its top-level imports (not those inside functions or
    under `if TYPE_CHECKING:`), `from pkg import x` naming `pkg.x` when that is a module."""
    parts = name.split(".")
    path = PACKAGE.parent.joinpath(*parts).with_suffix(".py")
    if not path.exists():
        path = PACKAGE.parent.joinpath(*parts, "__init__.py")
    own = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = {".".join(parts[:i]) for i in range(1, len(parts))}  # the parent packages run first
    statements = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while statements:
        node = statements.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            statements.extend(node.orelse)
        elif isinstance(node, (ast.If, ast.Try)):
            statements.extend([*node.body, *node.orelse, *getattr(node, "finalbody", [])])
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            source = ".".join(own.split(".")[: len(own.split(".")) - node.level + 1] + [node.module or ""]) \
                if node.level else node.module or ""
            source = source.rstrip(".")
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                is_module = PACKAGE.parent.joinpath(*sub.split(".")).with_suffix(".py").exists() \
                    or PACKAGE.parent.joinpath(*sub.split("."), "__init__.py").exists()
                found.add(sub if is_module else source)
    return found - {name}


def _imported_by(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name.split(".")[0] == "clue_checks":
            todo.extend(_module_imports(name))
    return seen


@pytest.mark.parametrize("start", ["clue_checks.roles.xdist_controller", "clue_checks.roles.adapters",
                                   "clue_checks.plugin", "clue_checks.xdist_share"])
def test_the_xdist_controller_imports_nothing_of_the_sample_side(start):
    loaded = _imported_by(start)
    assert "clue_checks.roles.controller" in _imported_by("clue_checks.roles.xdist_controller")  # the walk follows
    assert not sorted(m for m in loaded if any(m == s or m.startswith(s + ".") for s in SAMPLE_SIDE))


def test_the_single_process_and_a_worker_still_import_the_sample_side():
    assert {"clue_checks.runner", "httpx2"} <= _imported_by("clue_checks.roles.single_process")
    assert {"clue_checks.runner", "httpx2"} <= _imported_by("clue_checks.roles.xdist_worker")
