"""How each interval of a report was made, said briefly: one line per method, naming the scores it covers.

The report's JSON has every metric's full method (`MetricSummary.method`); the Markdown lists them per
method, the terminal prints one short line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from clue_checks.report.numbers.task_summary import TaskSummary


def _family(method: str) -> str:
    """The method without its counts ("cluster bootstrap over 24 clusters (…)" -> "cluster bootstrap")."""
    return re.split(r" over | \(|:", method, maxsplit=1)[0].strip() or "no interval"


def method_lines(tasks: Sequence[TaskSummary]) -> list[str]:
    """Markdown list items: each distinct method and the task metrics it was used for."""
    by_method: dict[str, list[str]] = {}
    for t in tasks:
        for m in t.metrics:
            if m.value is not None and m.method:
                by_method.setdefault(m.method, []).append(f"{t.task}.{m.name}")
    return [f"{method}: {', '.join(names)}" for method, names in by_method.items()]


def short_line(tasks: Sequence[TaskSummary]) -> str | None:
    """One terminal line: each method family and the tasks that used it."""
    families: dict[str, list[str]] = {}
    for t in tasks:
        for m in t.metrics:
            if m.value is not None and m.method:
                names = families.setdefault(_family(m.method), [])
                if t.title not in names:
                    names.append(t.title)
    if not families:
        return None
    return "intervals (95%): " + "; ".join(f"{family} ({', '.join(names)})" for family, names in families.items()) \
        + " — each metric's method is in clue-report.json"
