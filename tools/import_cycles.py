"""Import cycles among a package's modules, found by reading their source (`ast`), imports inside functions included.

    python tools/import_cycles.py clue_checks               # the whole package
    python tools/import_cycles.py clue_checks clue_checks/server   # modules under one folder only

`from pkg import name` depends on `pkg.name` when that is a module, otherwise on `pkg`. Exits 1 when a cycle exists.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, name: str, modules: set[str]) -> set[str]:
    """The package modules `path` (module `name`) imports."""
    found: set[str] = set()
    own_package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = own_package.split(".")[: len(own_package.split(".")) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source)
    return found & modules - {name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def main(argv: list[str]) -> int:
    package = Path(argv[0]).resolve()
    scope = Path(argv[1]).resolve() if len(argv) > 1 else package
    paths = {module_name(path, package): path for path in package.rglob("*.py")}
    chosen = {name: path for name, path in paths.items() if path.is_relative_to(scope)}
    graph = {name: imported(path, name, set(chosen)) for name, path in chosen.items()}
    found = cycles(graph)
    print(f"{len(graph)} modules, {sum(map(len, graph.values()))} import edges, cycles: {found or 'none'}")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
