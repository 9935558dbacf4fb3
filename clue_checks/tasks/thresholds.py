"""A task file's floors and gates, in the thresholds file's own terms, merged under the thresholds file.

A task file's ``[sample]``, ``[gate]`` and ``[compare]`` name its metrics only (``accuracy = ">= 0.8"``);
here they become ``"<task>.accuracy"`` keys, parsed by the one thresholds parser (same syntax, same
checks). The thresholds file wins key by key: the release policy of a CI job can tighten a task's own bar.
"""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import TYPE_CHECKING

from clue_checks.report.numbers.thresholds import Thresholds, _number, parse

if TYPE_CHECKING:
    from clue_checks.tasks.registry import TaskCatalog
    from clue_checks.tasks.taskfile import TaskDefinition


def task_file_thresholds(definition: TaskDefinition) -> Thresholds:
    """The task file's own thresholds; raises ThresholdsError naming the file."""
    lines = []
    for section, table in (("sample", definition.floors), ("gate", definition.gates),
                           ("compare", definition.compare)):
        lines.append(f"[{section}]")
        lines += [f"{json.dumps(f'{definition.name}.{metric}')} = {json.dumps(value)}" for metric, value in table.items()]
    return parse("\n".join(lines) + "\n", str(definition.path))


def with_task_files(base: Thresholds, catalog: TaskCatalog) -> Thresholds:
    """`base` (the thresholds file) over every task file's own thresholds in the catalog."""
    own = [task_file_thresholds(cls.definition) for cls in catalog.classes.values() if hasattr(cls, "definition")]
    if not own:
        return base
    floors: dict[str, dict[str, float]] = {}
    for t in (*own, base):
        for task, metrics in t.floors.items():
            floors.setdefault(task, {}).update(metrics)
    gates = {(g.task, g.metric): g for t in (*own, base) for g in t.gates}
    compare = {(g.task, g.metric): g for t in (*own, base) for g in t.compare}
    return Thresholds(base.source, MappingProxyType({t: MappingProxyType(m) for t, m in floors.items()}),
                      tuple(gates.values()), tuple(compare.values()))


def as_toml(thresholds: Thresholds, note: str) -> str:
    """The thresholds as a thresholds file (what the manifest records when task files add floors or gates:
    the bars that decided the verdict, which `clue report merge` reads back). `note`: the first comment line."""
    lines = [f"# {note}", "[sample]"]
    lines += [f"{json.dumps(f'{t}.{m}')} = {_number(v)}" for t, ms in thresholds.floors.items() for m, v in ms.items()]
    lines.append("[gate]")
    for g in thresholds.gates:
        on = "" if g.statistic == "value" else f"{g.statistic} "
        lines.append(f"{json.dumps(f'{g.task}.{g.metric}')} = {json.dumps(f'{on}{g.op} {_number(g.bound)}')}")
    lines.append("[compare]")
    for c in thresholds.compare:
        rule = c.rule if c.margin is None else f"{c.rule} {_number(c.margin)}"
        lines.append(f"{json.dumps(f'{c.task}.{c.metric}')} = {json.dumps(rule)}")
    return "\n".join(lines) + "\n"
