"""Size and shape of the package, from an ``ast`` walk: the numbers the house is held to.

    python tools/house_numbers.py            # summary
    python tools/house_numbers.py --list     # every module over 400 lines, function over 50, import in a function

Limits: no module over 400 lines, no function over 50 lines (decorators to last line), at most 60 imports
inside functions, no import from ``clue_checks.report`` into ``clue_checks.roles``. Exit 1 when one is broken.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "clue_checks"
MODULE_LINES, FUNCTION_LINES, INNER_IMPORTS = 400, 50, 60


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level:
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    return [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]


def survey(package: Path = PACKAGE) -> dict:
    modules, long_functions, inner_imports, back_edges = {}, [], [], []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        name = _module_name(path, package)
        modules[name] = len(text.splitlines())
        inner_seen: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                length = node.end_lineno - start + 1
                if length > FUNCTION_LINES:
                    long_functions.append((f"{name}:{node.name}", length))
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)) and inner.lineno not in inner_seen:
                        inner_seen.add(inner.lineno)
                        inner_imports.append(f"{name}:{node.name}:{inner.lineno}")
            if isinstance(node, (ast.Import, ast.ImportFrom)) and name.startswith("clue_checks.report"):
                targets = _imported(node, name, path.name == "__init__.py")
                if any(t == "clue_checks.roles" or t.startswith("clue_checks.roles.") for t in targets):
                    back_edges.append(f"{name}:{node.lineno}")
    return {"modules": modules, "long_functions": long_functions,
            "inner_imports": inner_imports, "back_edges": back_edges}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="name every offender")
    args = parser.parse_args(argv)
    found = survey()
    modules = found["modules"]
    over = sorted(((n, c) for n, c in modules.items() if c > MODULE_LINES), key=lambda x: -x[1])
    largest = max(modules.items(), key=lambda x: x[1])
    print(f"modules: {len(modules)}  lines: {sum(modules.values())}  largest: {largest[0]} ({largest[1]})")
    print(f"modules over {MODULE_LINES} lines: {len(over)}")
    print(f"functions over {FUNCTION_LINES} lines: {len(found['long_functions'])}")
    print(f"imports inside functions: {len(found['inner_imports'])} (limit {INNER_IMPORTS})")
    print(f"imports from report/ into roles/: {len(found['back_edges'])}")
    if args.list:
        for n, c in over:
            print(f"  module {n}: {c}")
        for n, c in sorted(found["long_functions"], key=lambda x: -x[1]):
            print(f"  function {n}: {c}")
        for where in found["inner_imports"]:
            print(f"  inner import {where}")
        for where in found["back_edges"]:
            print(f"  back edge {where}")
    broken = over or found["long_functions"] or found["back_edges"] or \
        len(found["inner_imports"]) > INNER_IMPORTS
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
