"""clue-report.md: the report as Markdown, section after section, from a `Report` alone."""

from __future__ import annotations

from clue_checks.report.compare.baseline import BaselineComparison
from clue_checks.report.compare.baseline import markdown_lines as comparison_lines
from clue_checks.report.document import Report
from clue_checks.report.numbers.interval_notes import method_lines
from clue_checks.report.numbers.kinds_table import markdown_lines as kinds_lines
from clue_checks.report.write.pieces import HEADER, _code, _id_list, _one_line, level_lines, manifest_lines, request_line, task_rows
from clue_checks.report.numbers.run_stats import markdown_lines as run_stats_lines


def markdown(report: Report) -> str:
    data = report.as_dict()
    lines = _header(report) + _tasks(report)
    if report.levels:
        lines += ["", "## CLUE levels", "", *[f"- {_one_line(line)}" for line in level_lines(report.levels)],
                  "", "Headline metrics per task: see `clue_checks/report/numbers/levels.py` (one table)."]
    lines += kinds_lines(data)
    if report.comparison.section is not None or report.comparison.gates:
        section = report.comparison.section if report.comparison.compared else None
        lines += [""] + comparison_lines(BaselineComparison(dict(section) if section else None,
                                                            report.comparison.gates), report.titles())
        lines.pop()  # the section's closing blank line: the gates' heading brings its own
    lines += _gates(report)
    if report.not_run:  # the tasks whose data is absent: said once per task, beside their gates' "not run"
        lines += ["", "## Tasks not run", "", *[f"- {_one_line(line)}" for line in report.not_run.values()]]
    lines += _samples(report) + manifest_lines(data["manifest"])
    text = "\n".join(lines) + "\n"
    if report.performance is not None:
        text += "\n".join(run_stats_lines(report.performance, report.store)) + "\n"
    return text


def _header(report: Report) -> list[str]:
    run = report.run
    seeds = run.get("seeds") or {}
    revision = _code(run["model_revision"]) if run.get("model_revision") else "not reported"
    return [
        "# CLUE report",
        "",
        *[f"> **Warning**: {_one_line(w)}" for w in report.warnings],
        *([""] if report.warnings else []),
        f"- model: {_code(run.get('model_id'))} (revision {revision}, {_one_line(run.get('server_kind'))}) at "
        + ", ".join(_code(u) for u in run.get("endpoints", [])),
        f"- api: {run.get('api')}; profile: {run.get('profile')}; data: {_code(run.get('data_dir'))}",
        f"- {request_line(report.requests)}",
        f"- seeds: shots {seeds.get('shots')}, LongHealth {seeds.get('longhealth')}, bootstrap {seeds.get('bootstrap')} "
        f"({seeds.get('bootstrap_resamples')} resamples, 95% percentile CI)",
        "",
    ]


def _tasks(report: Report) -> list[str]:
    lines = []
    partial = [t for t in report.tasks if t.partial]
    if partial:
        lines += ["**Partial run**: " + "; ".join(
            f"{t.title} scored {t.n_samples} of {t.n_total if t.n_total is not None else '?'} samples"
            + (f", {t.n_missing} selected but never ran" if t.n_missing else "") for t in partial)
            + ". Gates cannot pass on a partial run.", ""]
    lines += ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    rows, notes = task_rows(report.tasks)
    lines += ["| " + " | ".join(_one_line(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    lines += [""] + [f"[{i}] not computed: {_one_line(note)}  " for i, note in enumerate(notes, start=1)] if notes else []
    methods = method_lines(report.tasks)
    if methods:
        lines += ["", "Intervals (95%), by method:", ""] + [f"- {_one_line(m)}" for m in methods]
    return lines


def _gates(report: Report) -> list[str]:
    word = report.verdict.word
    lines = ["", f"## Gates: {word}", ""]
    if report.gates:
        lines += [f"- **{g.status}** {_code(g.gate.name)} — {_one_line(g.detail)}" for g in report.gates]
    else:
        lines.append("No gates configured (see `[gate]` in the thresholds file).")
    if report.verdict.reasons and word != "pass":
        lines += ["", "Not a pass because:", ""] + [f"- {_one_line(r)}" for r in report.verdict.reasons]
    return lines


def _samples(report: Report) -> list[str]:
    lines = []
    failing = [t for t in report.tasks if t.failing]
    if failing:
        lines += ["", "## Failing samples", ""]
        lines += [f"- {t.title} ({len(t.failing)}): {_id_list(t.task, t.failing)}" for t in failing]
    errored = [t for t in report.tasks if t.errored]
    if errored:
        lines += ["", "## Errored samples (no response)", ""]
        lines += [f"- {t.title} ({len(t.errored)}): {_id_list(t.task, t.errored)}" for t in errored]
    return lines
