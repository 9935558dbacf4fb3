"""Writers: the JSON report, the Markdown report, per-task prediction files and terminal lines.

The report folder is everything a later step needs: `clue-report.json` (run, manifest, tasks,
levels, gates, verdict), `clue-report.md`, and `predictions/<task>.jsonl` with one full sample
record per line (`clue report merge` recomputes every number from these).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..endpoint.types import REQUEST_COUNTS
from .aggregate import OUTSIDE_VERDICT, AggregateResult, GateResult, SampleRecord, TaskSummary
from .files import PREDICTIONS, REPORT_JSON, REPORT_MD
from .levels import LevelScore
from .prediction_lines import prediction_rows


def report_dict(run: Mapping[str, Any], tasks: Sequence[TaskSummary], gates: Sequence[GateResult],
                levels: Sequence[LevelScore] = (), requests: Mapping[str, int] | None = None, *,
                verdict_: str | None = None, verdict_reasons: Sequence[str] = (),
                manifest: Mapping[str, Any] | None = None, warnings: Sequence[str] = ()) -> dict[str, Any]:
    """`requests`: what went over the wire, from the scheduler (each request once, whatever its retries):
    answered (`sent`), given up on (`failed`), answered from the store, and samples sharing another's
    request. Without it, the per-sample sources stand in. Per task, `requests` counts samples by source.
    `verdict_` defaults to the gates' own verdict (`verdict`)."""
    if requests is None:
        requests = {"sent": sum(t.requests_sent for t in tasks), "failed": 0,
                    "from_store": sum(t.requests_stored for t in tasks), "shared": sum(t.requests_shared for t in tasks)}
    return {
        "run": dict(run),
        "manifest": dict(sorted((manifest or {}).items())),
        "warnings": list(warnings),
        "requests": {k: int(requests.get(k, 0)) for k in REQUEST_COUNTS},
        "tasks": {t.task: t.as_dict() for t in tasks},
        "levels": {f"level{lv.level}": lv.as_dict() for lv in levels},
        "gates": [g.as_dict() for g in gates],
        "verdict": verdict_ if verdict_ is not None else verdict(gates),
        "verdict_reasons": list(verdict_reasons),
    }


def report_for(result: AggregateResult, run: Mapping[str, Any], *, requests: Mapping[str, int] | None,
               manifest: Mapping[str, Any] | None = None, warnings: Sequence[str] = ()) -> dict[str, Any]:
    """The JSON report of an aggregation, with each task's failure kinds counted (`tasks[t]["kinds"]`)."""
    from .kinds_table import counts_per_task

    report = report_dict(run, result.tasks, result.gates, result.levels, requests, verdict_=result.verdict,
                         verdict_reasons=result.verdict_reasons, manifest=manifest, warnings=warnings)
    for task, counts in counts_per_task(result.records).items():
        if task in report["tasks"]:
            report["tasks"][task]["kinds"] = counts
    return report


def verdict(gates: Sequence[GateResult]) -> str:
    """The gates' own verdict: PASS only when every gate that counts passed (one that is incomplete or
    whose task did not run cannot pass); gates of tasks left out by --clue-tasks do not count."""
    counted = [g for g in gates if g.status not in OUTSIDE_VERDICT]
    if not counted:
        return "no gates"
    return "pass" if all(g.status == "pass" for g in counted) else "fail"


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
        *[f"> **Warning**: {_one_line(w)}" for w in report.get("warnings", ())],
        *([""] if report.get("warnings") else []),
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
        at = lines.index("| " + " | ".join(HEADER) + " |")
        lines[at:at] = ["**Partial run**: " + "; ".join(
            f"{t.title} scored {t.n_samples} of {t.n_total if t.n_total is not None else '?'} samples"
            + (f", {t.n_missing} selected but never ran" if t.n_missing else "") for t in partial)
            + ". Gates cannot pass on a partial run.", ""]

    rows, notes = task_rows(tasks)
    lines += ["| " + " | ".join(_one_line(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    lines += [""] + [f"[{i}] not computed: {_one_line(note)}  " for i, note in enumerate(notes, start=1)] if notes else []
    from .interval_notes import method_lines

    methods = method_lines(tasks)
    if methods:
        lines += ["", "Intervals (95%), by method:", ""] + [f"- {_one_line(m)}" for m in methods]
    if levels:
        lines += ["", "## CLUE levels", "", *[f"- {_one_line(line)}" for line in level_lines(levels)],
                  "", "Headline metrics per task: see `clue_checks/report/levels.py` (one table)."]
    from .kinds_table import markdown_lines as kinds_lines

    lines += kinds_lines(report)
    decided = report.get("verdict") or verdict(gates)
    lines += ["", f"## Gates: {decided}", ""]
    if gates:
        lines += [f"- **{g.status}** {_code(g.gate.name)} — {_one_line(g.detail)}" for g in gates]
    else:
        lines.append("No gates configured (see `[gate]` in the thresholds file).")
    if report.get("verdict_reasons") and decided != "pass":
        lines += ["", "Not a pass because:", ""] + [f"- {_one_line(r)}" for r in report["verdict_reasons"]]
    failing = [(t, t.failing) for t in tasks if t.failing]
    if failing:
        lines += ["", "## Failing samples", ""]
        for t, ids in failing:
            lines.append(f"- {t.title} ({len(ids)}): {_id_list(t.task, ids)}")
    errored = [(t, t.errored) for t in tasks if t.errored]
    if errored:
        lines += ["", "## Errored samples (no response)", ""]
        lines += [f"- {t.title} ({len(ids)}): {_id_list(t.task, ids)}" for t, ids in errored]
    lines += manifest_lines(report.get("manifest") or {})
    return "\n".join(lines) + "\n"


def manifest_lines(manifest: Mapping[str, Any]) -> list[str]:
    """The manifest as Markdown: a key/value table; long texts (thresholds, the endpoint's answer) as blocks."""
    if not manifest:
        return []
    blocks = {k: v for k, v in manifest.items() if isinstance(v, dict) or (isinstance(v, str) and "\n" in v)}
    lines = ["", "## Provenance", "", "| key | value |", "|---|---|"]
    for key, value in manifest.items():
        if key not in blocks:
            lines.append(f"| {_code(key)} | {_one_line(_scalar(value)).replace('|', chr(92) + '|')} |")
    for key, value in blocks.items():
        text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
        fence = "`" * max(3, max((len(run) + 1 for run in re.findall(r"`+", text)), default=0))
        lines += ["", f"{_code(key)}:", "", fence, text.rstrip("\n"), fence]
    return lines


def _scalar(value: Any) -> str:
    return str(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


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
                   levels: Sequence[LevelScore] = (), *, verdict_: str | None = None,
                   verdict_reasons: Sequence[str] = (), warnings: Sequence[str] = ()) -> list[str]:
    table, notes = task_rows(tasks)
    rows = [HEADER] + table
    widths = [max(len(r[c]) for r in rows) for c in range(len(HEADER))]
    out = [f"WARNING: {w}" for w in warnings]
    out += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    out += [f"[{i}] not computed: {note}" for i, note in enumerate(notes, start=1)]
    from .interval_notes import short_line

    methods = short_line(tasks)
    out += [methods] if methods else []
    out += level_lines(levels)
    out.append(request_line(requests))
    not_selected = [g.gate.name for g in gates if g.status == "not selected"]
    for g in gates:
        if g.status != "not selected":
            out.append(f"gate {g.status.upper():10} {g.gate.name}: {g.detail}")
    if not_selected:
        out.append(f"gates not selected (--clue-tasks left their tasks out): {', '.join(not_selected)}")
    decided = verdict_ if verdict_ is not None else verdict(gates)
    gate_reasons = tuple(r for r in verdict_reasons if not r.startswith("gate "))
    if decided == "deferred":
        out.append(f"verdict: deferred ({'; '.join(verdict_reasons)})")
    elif not gates:
        out.append("verdict: none: the thresholds file has no [gate], so there is no release verdict")
    elif decided == "no gates":
        out.append("verdict: none: no [gate] applies to the selected tasks")
    else:
        out.append(f"verdict: {decided.upper()}" + (f" ({'; '.join(gate_reasons)})" if decided != "pass"
                                                     and gate_reasons else ""))
    return out


def prediction_row(record: SampleRecord) -> dict[str, Any]:
    """One line of `predictions/<task>.jsonl`: CLUE's own keys (to diff against CLUE's predictions files),
    then every field of the sample record (`record_of_row` reads it back). The record's `parsed` (the answer the
    task's parser read) is written as `parsed_answer`: LongHealth has a metric named `parsed` (0/1, under
    `metrics`), and CLUE's own files put metrics at the top level, so the name would mean two things."""
    fields = {("parsed_answer" if k == "parsed" else k): v for k, v in record.as_dict().items()}
    return {"id": record.sample_id, "Model Answer": record.response, "Ground Truth Answer": record.reference,
            **fields}


def record_of_row(row: Mapping[str, Any]) -> SampleRecord:
    """The sample record of a prediction row (`parsed_answer`, or an older row's `parsed`, is its parsed answer)."""
    data = dict(row)
    if "parsed_answer" in data:
        data["parsed"] = data.pop("parsed_answer")
    return SampleRecord.from_dict(data)


def read_predictions(directory: Path) -> dict[str, list[SampleRecord]]:
    """The sample records of a report folder, per task (raises OSError / ValueError naming the file and line)."""
    out: dict[str, list[SampleRecord]] = {}
    for path in sorted((directory / PREDICTIONS).glob("*.jsonl")):
        rows = out.setdefault(path.stem, [])
        for number, row in prediction_rows(path):
            try:
                rows.append(record_of_row(row))
            except (ValueError, TypeError, KeyError) as exc:
                raise ValueError(f"{path}, line {number}: not a sample record ({exc})") from None
    return out


def write_reports(directory: Path, report: Mapping[str, Any], md: str,
                  records: Mapping[str, Sequence[SampleRecord]], *, redact: bool = False) -> list[Path]:
    """`redact` (--clue-redact): prediction rows with their clinical text hashed (`redact.redact_rows`); the JSON
    and Markdown reports hold no sample text (ids, counts, metrics, kinds), so they are written as they are."""
    from .redact import redact_row

    shown = redact_row if redact else dict
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / REPORT_JSON
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    md_path = directory / REPORT_MD
    md_path.write_text(md, encoding="utf-8")
    written = [json_path, md_path]
    pred_dir = directory / PREDICTIONS
    pred_dir.mkdir(exist_ok=True)
    for stale in pred_dir.glob("*.jsonl"):  # a task not in this run must not keep an older run's file
        stale.unlink()
    for task, rows in records.items():
        path = pred_dir / f"{task}.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for r in sorted(rows, key=lambda r: r.index):
                handle.write(json.dumps(shown(prediction_row(r)), ensure_ascii=False) + "\n")
        written.append(path)
    return written
