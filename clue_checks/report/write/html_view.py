"""What the report page shows, as plain values for its template (`html_assets/page.html`): the header, the
manifest, the scores and gates, the failure kinds, the forest plot, and the data its script reads.

Text stays text here: the template escapes it. The charts are SVG drawn by `html_svg` (every label escaped
there) and reach the template as `Markup`, as does `script_json`: the data, made safe for its `<script>` element.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from clue_checks.report.numbers.levels import LEVELS, level_of_key
from clue_checks.report.write.html_rows import number, shared_prompt_starts
from clue_checks.report.write.html_svg import Bar, Difference, forest, kind_bars, score_bars
from clue_checks.triage import KINDS, kind_counts

HEADLINE = {task: metric for components in LEVELS.values() for _, parts in components for task, metric in parts}


@dataclass(frozen=True)
class Header:
    model: str
    verdict: str
    verdict_class: str  # letters only: a CSS class
    run: str  # profile · api · finished, those the run names


@dataclass(frozen=True)
class GateLine:
    status: str
    status_class: str  # letters only: a CSS class
    gate: str
    detail: str


@dataclass(frozen=True)
class MetricLine:
    task: str
    metric: str
    shown: str  # the value with its interval, or "not computed"
    n: str
    note: str


@dataclass(frozen=True)
class KindsFigure:
    task: str
    title: str
    n: int  # samples of the task
    counts: Mapping[str, int] | None  # None: kinds not recorded
    chart: Markup | None  # None: no kind to draw


def task_order(report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    tasks = list(report.get("tasks") or {})
    return tasks + [t for t in dict.fromkeys(r["task"] for r in rows) if t not in tasks]


def _ci(entry: Mapping[str, Any]) -> tuple[float | None, float | None]:
    ci = entry.get("ci95")
    if isinstance(ci, list) and len(ci) == 2:
        return number(ci[0]), number(ci[1])
    return None, None


def _letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def score_chart(report: Mapping[str, Any]) -> Markup | None:
    """The headline metric of every task (the one its Level average uses), then the Level averages."""
    bars = []
    for task, summary in (report.get("tasks") or {}).items():
        if not isinstance(summary, Mapping):
            continue
        metrics = summary.get("metrics") or {}
        name = HEADLINE.get(task) if HEADLINE.get(task) in metrics else next(iter(metrics), None)
        if name is None:
            bars.append(Bar(f"{summary.get('title', task)}", None, note="no metric"))
            continue
        entry = metrics[name] if isinstance(metrics[name], Mapping) else {}
        low, high = _ci(entry)
        n = entry.get("n")
        bars.append(Bar(f"{summary.get('title', task)} · {name}", number(entry.get("value")), low, high,
                        f"n={n}" if entry.get("value") is not None else str(entry.get("not_computed") or "no value")))
    for key, level in (report.get("levels") or {}).items():
        if isinstance(level, Mapping):
            low, high = _ci(level)
            bars.append(Bar(f"Level {level_of_key(key)}", number(level.get("value")), low, high,
                            "" if level.get("value") is not None else str(level.get("not_computed") or ""), True))
    return Markup(score_bars(bars)) if bars else None


def kinds_counts(report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int] | None]:
    """Per task: the report's `tasks[t]["kinds"]` counts, else counted from the rows' kinds, else None."""
    counts: dict[str, dict[str, int] | None] = {}
    for task in task_order(report, rows):
        summary = (report.get("tasks") or {}).get(task)
        stated = summary.get("kinds") if isinstance(summary, Mapping) else None
        if isinstance(stated, Mapping):
            counts[task] = {str(k): int(v) for k, v in stated.items() if number(v) is not None}
            continue
        task_rows = [r for r in rows if r["task"] == task]
        recorded = [r["kinds"] for r in task_rows if r["kinds"] is not None]
        counts[task] = kind_counts(task, recorded) if task_rows and len(recorded) == len(task_rows) else None
    return counts


def kinds_figures(report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> list[KindsFigure]:
    figures = []
    tasks = report.get("tasks") or {}
    for task, counts in kinds_counts(report, rows).items():
        summary = tasks.get(task) if isinstance(tasks.get(task), Mapping) else {}
        title = str(summary.get("title") or task)
        n = summary.get("n_samples")
        n = n if isinstance(n, int) else sum(r["task"] == task for r in rows)
        chart = Markup(kind_bars(counts, n, f"failure kinds of {title}")) if counts else None
        figures.append(KindsFigure(task, title, n, counts, chart))
    return figures


def comparison_tasks(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """`report["comparison"]` per task: either {task: {...}} or {"tasks": {task: {...}}, ...}."""
    comparison = report.get("comparison")
    if not isinstance(comparison, Mapping):
        return {}
    tasks = comparison.get("tasks") if isinstance(comparison.get("tasks"), Mapping) else comparison
    return {str(t): c for t, c in tasks.items() if isinstance(c, Mapping) and "difference" in c}


def forest_chart(report: Mapping[str, Any]) -> Markup | None:
    rows = []
    for task, entry in comparison_tasks(report).items():
        low, high = _ci(entry)
        p = number(entry.get("p_value"))
        metric = entry.get("metric")
        summary = (report.get("tasks") or {}).get(task)
        title = str(summary.get("title") or task) if isinstance(summary, Mapping) else task
        label = f"{title} · {metric}" if isinstance(metric, str) else title
        shown = entry.get("p_shown")  # as the comparison prints it: a drawn p at its floor is a bound
        bound = isinstance(shown, str) and shown.startswith("≤")
        note = "" if p is None else f"p{shown.replace('≤ ', '≤')}" if bound else f"p={p:.3g}"
        rows.append(Difference(label, number(entry.get("difference")), low, high, note))
    return Markup(forest(rows)) if rows else None


def manifest_items(report: Mapping[str, Any]) -> list[tuple[str, str]] | None:
    """The manifest (else the run section) as (key, text) pairs; None: the report has neither."""
    manifest = report.get("manifest") if isinstance(report.get("manifest"), Mapping) else report.get("run")
    if not isinstance(manifest, Mapping):
        return None
    return [(str(k), v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)) for k, v in manifest.items()]


def header(report: Mapping[str, Any]) -> Header:
    # The manifest where it names a key, else the run section (a plugin run's manifest holds no model id).
    sections = [report.get(k) for k in ("run", "manifest")]
    run = {k: v for section in sections if isinstance(section, Mapping) for k, v in section.items()}
    model = run.get("model_id") or run.get("model") or "unknown model"
    if run.get("model_revision"):
        model = f"{model} (revision {run['model_revision']})"
    verdict = str(report.get("verdict") or "no verdict")
    bits = [f"profile {run.get('profile')}" if run.get("profile") else "", f"api {run.get('api')}" if run.get("api") else "",
            f"finished {run.get('finished')}" if run.get("finished") else ""]
    return Header(str(model), verdict, _letters(verdict), " · ".join(b for b in bits if b))


def gate_lines(report: Mapping[str, Any]) -> list[GateLine]:
    return [GateLine(str(g.get("status")), _letters(str(g.get("status", ""))), str(g.get("gate")),
                     str(g.get("detail", "")))
            for g in report.get("gates") or [] if isinstance(g, Mapping)]


def metric_lines(report: Mapping[str, Any]) -> list[MetricLine]:
    """Every metric of every task, for the "Every metric" table."""
    lines = []
    for task, summary in (report.get("tasks") or {}).items():
        if not isinstance(summary, Mapping):
            continue
        for name, entry in (summary.get("metrics") or {}).items():
            entry = entry if isinstance(entry, Mapping) else {}
            low, high = _ci(entry)
            value = number(entry.get("value"))
            shown = "not computed" if value is None else f"{value:.3f}" + (
                f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else "")
            lines.append(MetricLine(str(summary.get("title", task)), str(name), shown, str(entry.get("n", "—")),
                                    str(entry.get("not_computed") or "")))
    return lines


def script_json(data: Any) -> str:
    """JSON that is safe inside `<script type="application/json">`: nothing in it can end the element or
    start markup, and the line separators that old JavaScript parsers reject are escaped too."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    # A lone surrogate (from a \ud800 escape in the input) cannot be written as UTF-8: keep it as an escape.
    # Found by encoding (a tenth of the pattern's time over a page row: the page has one per sample).
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


def page_data(report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the page's script reads: the tasks, the kinds, each task's headline metric, the rows."""
    rows = [dict(r) for r in rows]  # shared_prompt_starts shortens their prompts
    starts = shared_prompt_starts(rows)
    return page_frame(report, rows, starts, rows)


def page_frame(report: Mapping[str, Any], task_rows: Sequence[Mapping[str, Any]], prompt_start: Mapping[str, str],
               rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """`page_data` from its parts (html_stream.py writes it with `rows` streamed); `task_rows`: rows with
    their `task` at least."""
    tasks = report.get("tasks") or {}
    comparison = comparison_tasks(report)
    return {
        "tasks": [{"name": t, "title": str(tasks.get(t, {}).get("title", t)) if isinstance(tasks.get(t), Mapping) else t}
                  for t in task_order(report, task_rows)],
        "kinds": [{"name": k.name, "definition": k.definition} for k in KINDS],
        "headline": {t: HEADLINE.get(t) for t in task_order(report, task_rows)},
        "prompt_start": dict(prompt_start),
        "rows": rows,
        "comparison": {t: {"broke": [str(i) for i in c.get("broke") or []], "fixed": [str(i) for i in c.get("fixed") or []]}
                       for t, c in comparison.items()},
    }
