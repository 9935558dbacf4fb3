"""Renderers: the JSON report, the Markdown report, per-task prediction files and terminal lines."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..endpoint.types import REQUEST_COUNTS
from .aggregate import GateResult, SampleRecord, TaskSummary
from .levels import LevelScore


def report_dict(run: Mapping[str, Any], tasks: Sequence[TaskSummary], gates: Sequence[GateResult],
                levels: Sequence[LevelScore] = (), requests: Mapping[str, int] | None = None) -> dict[str, Any]:
    """`requests`: what went over the wire, from the scheduler (each request once, whatever its retries):
    answered (`sent`), given up on (`failed`), answered from the store, and samples sharing another's
    request. Without it, the per-sample sources stand in. Per task, `requests` counts samples by source."""
    if requests is None:
        requests = {"sent": sum(t.requests_sent for t in tasks), "failed": 0,
                    "from_store": sum(t.requests_stored for t in tasks), "shared": sum(t.requests_shared for t in tasks)}
    return {
        "run": dict(run),
        "requests": {k: int(requests.get(k, 0)) for k in REQUEST_COUNTS},
        "tasks": {t.task: t.as_dict() for t in tasks},
        "levels": {f"level{lv.level}": lv.as_dict() for lv in levels},
        "gates": [g.as_dict() for g in gates],
        "verdict": verdict(gates),
    }


def verdict(gates: Sequence[GateResult]) -> str:
    """PASS only when every gate passed: a gate that is incomplete or whose task did not run cannot pass."""
    if not gates:
        return "no gates"
    return "pass" if all(g.status == "pass" for g in gates) else "fail"


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _ci(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f" [{low:.3f}, {high:.3f}]"


def _one_line(text: object) -> str:
    """Reasons and ids come from data and exception messages: a line break would end a Markdown
    list item or table row (or start a heading), so it becomes a space."""
    return re.sub(r"\s*[\r\n]+\s*", " ", str(text))


def _code(text: object) -> str:
    """An inline code span that survives backticks and line breaks in `text`."""
    text = _one_line(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def task_rows(tasks: Sequence[TaskSummary]) -> tuple[list[list[str]], list[str]]:
    """One row per task metric, and the not-computed reasons as numbered notes (they are long).

    A metric computed on some samples only shows its value and a note on the others."""
    rows, notes = [], []
    for t in tasks:
        for i, m in enumerate(t.metrics):
            note = None
            if m.value is None or m.not_computed:
                note = m.not_computed or "unknown reason"
                if note not in notes:
                    notes.append(note)
            if m.value is not None:
                score = _fmt(m.value) + _ci(m.ci_low, m.ci_high)
                if note is not None:
                    score += f" partly not computed [{notes.index(note) + 1}]"
            else:
                score = f"not computed [{notes.index(note) + 1}]"
            first = i == 0
            title = t.title + (f" ({t.n_samples} of {t.n_total})" if t.partial and t.n_total else "")
            rows.append([
                title if first else "", m.name, score, str(m.n),
                f"{t.n_failed}/{t.n_samples}" if first else "", str(t.n_errored) if first else "",
                f"{t.requests_sent}/{t.requests_stored}/{t.requests_shared}" if first else "",
            ])
    return rows, notes


HEADER = ["task", "metric", "score [95% CI]", "n", "failed", "errored", "sent/stored/shared"]


def level_lines(levels: Sequence[LevelScore]) -> list[str]:
    lines = []
    for lv in levels:
        if lv.value is None:
            lines.append(f"Level {lv.level}: not computed: {lv.not_computed}")
        else:
            parts = ", ".join(f"{name} {value:.3f}" for name, value in lv.components.items())
            caveat = f" (incomplete: {', '.join(lv.incomplete)})" if lv.incomplete else ""
            lines.append(f"Level {lv.level}: {lv.value:.3f}{_ci(lv.ci_low, lv.ci_high)} = mean of {parts}{caveat}")
    return lines


def markdown(report: Mapping[str, Any], tasks: Sequence[TaskSummary], gates: Sequence[GateResult],
             levels: Sequence[LevelScore] = ()) -> str:
    run = report["run"]
    lines = [
        "# CLUE report",
        "",
        f"- model: {_code(run.get('model_id'))} (revision {_code(run['model_revision']) if run.get('model_revision') else 'not reported'}, "
        f"{_one_line(run.get('server_kind'))}) at " + ", ".join(_code(u) for u in run.get("endpoints", [])),
        f"- api: {run.get('api')}; profile: {run.get('profile')}; data: {_code(run.get('data_dir'))}",
        f"- {request_line(report['requests'])}",
        f"- seeds: shots {run['seeds']['shots']}, LongHealth {run['seeds']['longhealth']}, bootstrap {run['seeds']['bootstrap']} "
        f"({run['seeds']['bootstrap_resamples']} resamples, 95% percentile CI)",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" for _ in HEADER) + "|",
    ]
    partial = [t for t in tasks if t.partial]
    if partial:
        lines[2:2] = ["", "**Partial run**: " + "; ".join(
            f"{t.title} scored {t.n_samples} of {t.n_total if t.n_total is not None else '?'} samples"
            + (f", {t.n_missing} selected but never ran" if t.n_missing else "") for t in partial)
            + ". Gates cannot pass on a partial run.", ""]
    rows, notes = task_rows(tasks)
    lines += ["| " + " | ".join(_one_line(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    lines += [""] + [f"[{i}] not computed: {_one_line(note)}  " for i, note in enumerate(notes, start=1)] if notes else []
    if levels:
        lines += ["", "## CLUE levels", "", *[f"- {_one_line(line)}" for line in level_lines(levels)],
                  "", "Headline metrics per task: see `clue_checks/report/levels.py` (one table)."]
    lines += ["", f"## Gates: {verdict(gates)}", ""]
    if gates:
        lines += [f"- **{g.status}** {_code(g.gate.name)} — {_one_line(g.detail)}" for g in gates]
    else:
        lines.append("No gates configured (see `[gate]` in the thresholds file).")
    failing = [(t, t.failing) for t in tasks if t.failing]
    if failing:
        lines += ["", "## Failing samples", ""]
        for t, ids in failing:
            lines.append(f"- {t.title} ({len(ids)}): {_id_list(t.task, ids)}")
    errored = [(t, t.errored) for t in tasks if t.errored]
    if errored:
        lines += ["", "## Errored samples (no response)", ""]
        lines += [f"- {t.title} ({len(ids)}): {_id_list(t.task, ids)}" for t, ids in errored]
    return "\n".join(lines) + "\n"


def _id_list(task: str, ids: Sequence[str], shown: int = 50) -> str:
    more = f" … and {len(ids) - shown} more" if len(ids) > shown else ""
    return ", ".join(_code(f"{task}:{i}") for i in ids[:shown]) + more


def request_line(requests: Mapping[str, int]) -> str:
    line = f"requests sent: {requests['sent']}"
    if requests.get("failed"):
        line += f" answered + {requests['failed']} failed"
    line += f", answered from the store: {requests['from_store']}"
    if requests.get("shared"):
        line += f", samples sharing another's identical request: {requests['shared']}"
    return line


def terminal_lines(tasks: Sequence[TaskSummary], gates: Sequence[GateResult], requests: Mapping[str, int],
                   levels: Sequence[LevelScore] = ()) -> list[str]:
    table, notes = task_rows(tasks)
    rows = [HEADER] + table
    widths = [max(len(r[c]) for r in rows) for c in range(len(HEADER))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    out += [f"[{i}] not computed: {note}" for i, note in enumerate(notes, start=1)]
    out += level_lines(levels)
    out.append(request_line(requests))
    for g in gates:
        out.append(f"gate {g.status.upper():10} {g.gate.name}: {g.detail}")
    if gates:
        out.append(f"verdict: {verdict(gates).upper()}")
    else:
        out.append("verdict: none: the thresholds file has no [gate], so there is no release verdict")
    return out


def remove_reports(directory: Path) -> None:
    """A run's start: an earlier run's report must not be taken for this one's if this one stops early."""
    for path in (directory / "clue-report.json", directory / "clue-report.md", *directory.glob("predictions/*.jsonl")):
        path.unlink(missing_ok=True)


def write_reports(directory: Path, report: Mapping[str, Any], md: str,
                  records: Mapping[str, Sequence[SampleRecord]]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "clue-report.json"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    md_path = directory / "clue-report.md"
    md_path.write_text(md, encoding="utf-8")
    written = [json_path, md_path]
    pred_dir = directory / "predictions"
    pred_dir.mkdir(exist_ok=True)
    for stale in pred_dir.glob("*.jsonl"):  # a task not in this run must not keep an older run's file
        stale.unlink()
    for task, rows in records.items():
        # CLUE's predictions.json keys, one line per scored sample, for diffing against CLUE outputs.
        path = pred_dir / f"{task}.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for r in sorted(rows, key=lambda r: r.index):
                handle.write(json.dumps({"id": r.sample_id, "outcome": r.outcome, "Model Answer": r.response,
                                         "Ground Truth Answer": r.reference, **dict(r.metrics),
                                         "reason": r.reason}, ensure_ascii=False) + "\n")
        written.append(path)
    return written
