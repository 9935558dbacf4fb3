"""The CLUE section of pytest's terminal summary, from a `Report` alone: (line, markup) pairs.

What only the session knows (where the report was written, settings worth a reminder) the controller adds.
"""

from __future__ import annotations

from clue_checks.report.compare.baseline import BaselineComparison
from clue_checks.report.compare.baseline import terminal_lines as comparison_lines
from clue_checks.report.document import Report
from clue_checks.report.numbers.interval_notes import short_line
from clue_checks.report.numbers.kinds_table import terminal_lines as kinds_lines
from clue_checks.report.write.pieces import HEADER, level_lines, request_line, task_rows
from clue_checks.report.numbers.run_stats import summary_line, warning_lines
from clue_checks.report.verdict import DEFERRED, NOT_RUN, PASS

Line = tuple[str, dict[str, bool]]


def summary_lines(report: Report) -> list[Line]:
    plain: list[str] = kinds_lines({"tasks": {t.task: {**t.as_dict(), "kinds": dict(report.kinds.get(t.task, {}))}
                                              for t in report.tasks}})
    plain += table_lines(report)
    comparison = report.comparison
    if comparison.section is not None or comparison.gates:
        section = comparison.section if comparison.compared else None
        plain += comparison_lines(BaselineComparison(dict(section) if section else None, comparison.gates),
                                  report.titles())
    out: list[Line] = [(line, {}) for line in plain]
    if comparison.error is not None:
        out.append((comparison.error, {"red": True}))
    if report.performance:
        out.append((summary_line(report.performance), {}))
        out += [(f"warning: {w}", {"yellow": True}) for w in warning_lines(report.performance, report.store)]
    return out


def table_lines(report: Report) -> list[str]:
    """The task table, its notes, the levels, the requests, the task gates and the verdict."""
    table, notes = task_rows(report.tasks)
    rows = [HEADER] + table
    widths = [max(len(r[c]) for r in rows) for c in range(len(HEADER))]
    out = [f"WARNING: {w}" for w in report.warnings]
    out += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    out += [f"[{i}] not computed: {note}" for i, note in enumerate(notes, start=1)]
    methods = short_line(report.tasks)
    out += [methods] if methods else []
    out += level_lines(report.levels)
    out.append(request_line(report.requests))
    gates = report.gates
    not_selected = [g.gate.name for g in gates if g.status == "not selected"]
    out += [f"gate {g.status.upper():10} {g.gate.name}: {g.detail}" for g in gates if g.status != "not selected"]
    if not_selected:
        out.append(f"gates not selected (--clue-tasks left their tasks out): {', '.join(not_selected)}")
    return out + [verdict_line(report)]


def verdict_line(report: Report) -> str:
    verdict = report.verdict
    if verdict.word == DEFERRED:
        return f"verdict: deferred ({'; '.join(verdict.reasons)})"
    if verdict.word == NOT_RUN and verdict.reasons and verdict.reasons[0].startswith("no [gate] in"):
        return "verdict: none: the thresholds file has no [gate], so there is no release verdict"
    if verdict.word == NOT_RUN and verdict.reasons and verdict.reasons[0].startswith("no [gate] on"):
        return "verdict: none: no [gate] applies to the selected tasks"
    shown = tuple(r for r in verdict.reasons if not r.startswith("gate "))  # the task gates are listed above
    return f"verdict: {verdict.word.upper()}" + (f" ({'; '.join(shown)})" if verdict.word != PASS and shown else "")
