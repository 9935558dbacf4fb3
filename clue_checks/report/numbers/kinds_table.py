"""The failure kinds of a run, counted per task: the JSON report's `tasks[t]["kinds"]`, a Markdown table and
terminal lines, like the paper's error analysis (rows: tasks; columns: kinds).

Counts are samples per kind (a sample with two kinds counts in both columns). A kind not looked for on a task
shows "—", one looked for and not found 0: the difference matters when reading a column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clue_checks.triage import KIND_NAMES, kind_counts
from clue_checks.record import SampleRecord


def counts_per_task(records: Mapping[str, Sequence[SampleRecord]],
                    looked_for: Mapping[str, Sequence[str] | None] | None = None) -> dict[str, dict[str, int]]:
    """Per task: samples per kind, every kind looked for on it (0 included), in the table's order.
    `looked_for`: per task, the kinds it declares (None or absent: the kinds table's entry for its name)."""
    looked_for = looked_for or {}
    return {task: kind_counts(task, [r.kinds for r in rows], looked_for.get(task)) for task, rows in records.items()}


def _tasks_with_counts(report: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    return [(name, t) for name, t in (report.get("tasks") or {}).items()
            if isinstance(t, Mapping) and isinstance(t.get("kinds"), Mapping) and t.get("n_samples")]


def columns(report: Mapping[str, Any]) -> list[str]:
    """The kinds found at least once in the run, in the table's order (then any unknown ones, by name)."""
    found = {k for _, t in _tasks_with_counts(report) for k, n in t["kinds"].items() if n}
    return [k for k in KIND_NAMES if k in found] + sorted(found - set(KIND_NAMES))


def markdown_lines(report: Mapping[str, Any]) -> list[str]:
    """`## Failure kinds`: one row per task, one column per kind found in the run."""
    tasks = _tasks_with_counts(report)
    if not tasks:
        return []
    kinds = columns(report)
    lines = ["", "## Failure kinds", "",
             "Samples per kind (a sample can have several; — not looked for on the task). Definitions: README, "
             "'Failure kinds'.", ""]
    if not kinds:
        return lines + ["No failure kind was found in any sample."]
    lines += ["| task | n | " + " | ".join(f"`{k}`" for k in kinds) + " |",
              "|---|---" + "|---" * len(kinds) + "|"]
    for _, t in tasks:
        cells = [str(t["kinds"][k]) if k in t["kinds"] else "—" for k in kinds]
        lines.append(f"| {t.get('title', '')} | {t['n_samples']} | " + " | ".join(cells) + " |")
    return lines


def terminal_lines(report: Mapping[str, Any]) -> list[str]:
    """One line per task with any kind found: `kinds MedNLI (n=12): wrong_answer 3, hedged 1`."""
    out = []
    for _, t in _tasks_with_counts(report):
        found = ", ".join(f"{k} {n}" for k, n in t["kinds"].items() if n)
        if found:
            out.append(f"kinds {t.get('title', '')} (n={t['n_samples']}): {found}")
    return out
