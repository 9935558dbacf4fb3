"""`index.html`: the report as one self-contained page that opens from disk with no network.

    write_html(Path("clue-report"))  # reads clue-report.json + predictions/*.jsonl, writes clue-report/index.html

Hospitals read reports on air-gapped machines, and model output is untrusted input. So the page has no
external reference at all (styles, script and charts inline); the summary charts are static SVG drawn in
Python with every label escaped; the samples travel as JSON inside `<script type="application/json">`
(with `<`, `>`, `&`, U+2028 and U+2029 escaped, so no text can close the element) and the page's script
puts them on screen with `textContent` only. The sample table is paginated and the drill-down built on
demand, so 10,000 samples open at once.

Prediction rows are read defensively: older rows carry CLUE's keys only (`id`, `Model Answer`, `Ground
Truth Answer`, metric values, `reason`); newer ones add `task`, `kinds`, `finish_reason`, tokens, latency,
`prompt`, `parsed_answer` (older rows: `parsed`), `metrics`, a `baseline` … Whatever a row lacks is shown as "—".
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from clue_checks.triage import KINDS, kind_counts
from clue_checks.report.files import PAGE, PREDICTIONS, REPORT_JSON
from clue_checks.report.write.html_svg import Bar, Difference, forest, kind_bars, score_bars
from clue_checks.report.numbers.levels import LEVELS, level_of_key
from clue_checks.report.prediction_lines import PredictionLineError, prediction_rows
from clue_checks.errors import ReportError

# Prompts are most of a report's text. The part every prompt of a task shares (system prompt, few-shot
# examples) is stored once per task; of the rest the page keeps the start and the end, where the question and
# the answer format are. A LongHealth prompt (~8,000 tokens of documents, 6,000 prompts in a full run) would
# otherwise make a page of hundreds of MB. The full prompt is in the prediction files.
PROMPT_HEAD = 500
PROMPT_TAIL = 1_500
TEXT_CAP = 50_000  # a response or reference longer than this (a loop to the token limit) is cut, and says so
# Row keys that are not metric values, when a row carries its metrics at the top level (CLUE's layout).
_NOT_METRICS = {"index", "tokens_in", "tokens_out", "latency_s"}
_ASSETS = "html_assets"


class ReportDirError(ReportError):
    """The folder is not a report directory, or one of its files cannot be read: names the file and the fix."""


# -- reading ------------------------------------------------------------------------------------


def load_report(report_dir: Path) -> dict[str, Any]:
    path = report_dir / REPORT_JSON
    if not path.is_file():
        raise ReportDirError(f"{report_dir}: no {REPORT_JSON} here; give the folder a run wrote with --clue-report-dir "
                             "(default: clue-report), or a merged report directory")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportDirError(f"{path}: not a JSON report ({exc}); rerun the suite to write it again") from None
    if not isinstance(report, dict):
        raise ReportDirError(f"{path}: expected a JSON object, got {type(report).__name__}")
    return report


def load_rows(report_dir: Path) -> list[dict[str, Any]]:
    """Every prediction row of `predictions/*.jsonl`, in file order, each normalised by `normalise_row`,
    its prompt kept only as far as the page can show it (`_PromptKeeper`)."""
    rows: list[dict[str, Any]] = []
    keeper = _PromptKeeper()
    for path in sorted((report_dir / PREDICTIONS).glob("*.jsonl")):
        try:
            for _, raw in prediction_rows(path):
                rows.append(keeper.keep(normalise_row(raw, path.stem)))
        except PredictionLineError as exc:
            raise ReportDirError(str(exc)) from None
    return rows


_TRIMMED = "_prompt_trimmed"  # a row key: its prompt lost a middle part that the page never shows


class _PromptKeeper:
    """Keeps of each prompt what `shared_prompt_starts` can show, as the rows are read.

    A full LongHealth run has 6,000 prompts of ~30 KB: read back whole they were the largest thing in
    memory at the end of a run. The page shows each prompt after the start its task's prompts share,
    cut to its first PROMPT_HEAD and last PROMPT_TAIL characters. The shared start of the rows read so
    far can only shrink, so a prompt's characters from `len(start so far) + PROMPT_HEAD` up to its last
    PROMPT_TAIL can never be shown: they are dropped, and `prompt_chars` keeps the full length for the
    "N characters not shown" note. The page comes out exactly as from the whole prompts.
    """

    def __init__(self) -> None:
        self._start: dict[str, str] = {}  # per task, the start shared by its prompts read so far

    def keep(self, row: dict[str, Any]) -> dict[str, Any]:
        prompt = row["prompt"]
        if prompt is None or row["prompt_chars"] != len(prompt):
            return row
        start = self._start.get(row["task"])
        start = prompt if start is None else common_prefix(start, prompt)
        self._start[row["task"]] = start
        shown_to = len(start) + PROMPT_HEAD
        if len(prompt) > shown_to + PROMPT_TAIL:
            row["prompt"] = prompt[:shown_to] + prompt[-PROMPT_TAIL:]
            row[_TRIMMED] = True
        return row


def common_prefix(a: str, b: str) -> str:
    """`os.path.commonprefix([a, b])`, found by halving with C-level comparisons: the stdlib's walks the
    characters in Python: 0.26 ms per MeQSum prompt, most of the page's cost on a 997-sample run."""
    if b.startswith(a):
        return a
    low, high = 0, min(len(a), len(b))  # a[:low] is shared; a[:high + 1] is not, or runs past one of them
    while low < high:
        middle = (low + high + 1) // 2
        if b.startswith(a[low:middle], low):
            low = middle
        else:
            high = middle - 1
    return a[:low]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _cap(text: str | None, limit: int = TEXT_CAP) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + f"\n… [{len(text) - limit:,} more characters not shown; see the prediction file]"


def _shortened(text: str | None, head: int = PROMPT_HEAD, tail: int = PROMPT_TAIL, *,
               length: int | None = None) -> str | None:
    """`length`: the text's full length, where the text already lacks a middle part (`_PromptKeeper`)."""
    length = len(text) if text is not None and length is None else length
    if text is None or length <= head + tail:
        return text
    skipped = length - head - tail
    return (text[:head] + f"\n\n… [{skipped:,} characters not shown; the full prompt is in the prediction "
            "file] …\n\n" + text[-tail:])


def shared_prompt_starts(rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Per task, the start all its prompts share; each row's `prompt` becomes the rest, then shortened.

    Mutates `rows`. The page shows `prompt_start[task] + row.prompt`."""
    starts: dict[str, str] = {}
    by_task: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["prompt"] is not None:
            by_task.setdefault(r["task"], []).append(r)
    for task, task_rows in by_task.items():
        start = os.path.commonprefix([r["prompt"] for r in task_rows]) if len(task_rows) > 1 else ""
        starts[task] = _shortened(start, 4 * PROMPT_HEAD, 4 * PROMPT_TAIL) or ""
        for r in task_rows:
            length = r["prompt_chars"] - len(start) if r.pop(_TRIMMED, False) else None
            r["prompt"] = _shortened(r["prompt"][len(start):], length=length)
    return starts


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def _metrics(raw: Mapping[str, Any]) -> dict[str, float | None]:
    if isinstance(raw.get("metrics"), Mapping):
        return {str(k): _number(v) for k, v in raw["metrics"].items()}
    # CLUE's layout: metric values as top-level numbers (LongHealth's `parsed` share among them).
    return {k: _number(v) for k, v in raw.items()
            if k not in _NOT_METRICS and isinstance(v, (int, float)) and not isinstance(v, bool)}


def _messages(value: Any) -> str | None:
    if not isinstance(value, list):
        return _text(value)
    lines = []
    for message in value:
        if isinstance(message, Mapping):
            lines.append(f"[{_text(message.get('role'))}] {_text(message.get('content')) or ''}")
        else:
            lines.append(_text(message) or "")
    return "\n".join(lines)


def normalise_row(raw: Mapping[str, Any], task_from_file: str) -> dict[str, Any]:
    """One prediction row as the page reads it: every field present (None when the row lacks it)."""
    kinds = raw.get("kinds")
    prompt = raw.get("prompt") if raw.get("prompt") is not None else _messages(raw.get("messages"))
    baseline = raw.get("baseline") if isinstance(raw.get("baseline"), Mapping) else None
    return {
        "task": _text(raw.get("task")) or task_from_file,
        "id": _text(raw.get("sample_id", raw.get("id"))) or "—",
        "outcome": _text(raw.get("outcome")),
        "kinds": [str(k) for k in kinds] if isinstance(kinds, list) else None,  # None: not recorded
        "metrics": _metrics(raw),
        "response": _cap(_text(raw.get("Model Answer", raw.get("response")))),
        "reference": _cap(_text(raw.get("Ground Truth Answer", raw.get("reference")))),
        "reason": _text(raw.get("reason")),
        "finish_reason": _text(raw.get("finish_reason")),
        "tokens_in": _number(raw.get("tokens_in")),
        "tokens_out": _number(raw.get("tokens_out")),
        "latency_s": _number(raw.get("latency_s")),
        "prompt": _text(prompt),  # shortened with the task's others, in `shared_prompt_starts`
        "prompt_chars": len(prompt) if isinstance(prompt, str) else None,
        # `parsed_answer` (rows since triage); older rows named it `parsed`, a string beside LongHealth's 0/1 metric.
        "parsed": next((v for v in (raw.get("parsed_answer"), raw.get("parsed")) if isinstance(v, str)), None),
        "node_id": _text(raw.get("node_id")),
        "cluster": _text(raw.get("cluster")),
        "source": _text(raw.get("source")),
        "not_computed": {str(k): _text(v) for k, v in raw["not_computed"].items()}
        if isinstance(raw.get("not_computed"), Mapping) else {},
        "baseline": None if baseline is None else {
            "response": _cap(_text(baseline.get("response", baseline.get("Model Answer")))),
            "outcome": _text(baseline.get("outcome")),
            "metrics": _metrics(baseline),
            "kinds": [str(k) for k in baseline["kinds"]] if isinstance(baseline.get("kinds"), list) else None,
        },
    }


# -- the page's parts ---------------------------------------------------------------------------


HEADLINE = {task: metric for components in LEVELS.values() for _, parts in components for task, metric in parts}


def _task_order(report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    tasks = list(report.get("tasks") or {})
    return tasks + [t for t in dict.fromkeys(r["task"] for r in rows) if t not in tasks]


def _ci(entry: Mapping[str, Any]) -> tuple[float | None, float | None]:
    ci = entry.get("ci95")
    if isinstance(ci, list) and len(ci) == 2:
        return _number(ci[0]), _number(ci[1])
    return None, None


def score_chart(report: Mapping[str, Any]) -> str:
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
        bars.append(Bar(f"{summary.get('title', task)} · {name}", _number(entry.get("value")), low, high,
                        f"n={n}" if entry.get("value") is not None else str(entry.get("not_computed") or "no value")))
    for key, level in (report.get("levels") or {}).items():
        if isinstance(level, Mapping):
            low, high = _ci(level)
            bars.append(Bar(f"Level {level_of_key(key)}", _number(level.get("value")), low, high,
                            "" if level.get("value") is not None else str(level.get("not_computed") or ""), True))
    return score_bars(bars) if bars else "<p class=\"muted\">No task scores in this report.</p>"


def kinds_counts(report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int] | None]:
    """Per task: the report's `tasks[t]["kinds"]` counts, else counted from the rows' kinds, else None."""
    counts: dict[str, dict[str, int] | None] = {}
    for task in _task_order(report, rows):
        summary = (report.get("tasks") or {}).get(task)
        stated = summary.get("kinds") if isinstance(summary, Mapping) else None
        if isinstance(stated, Mapping):
            counts[task] = {str(k): int(v) for k, v in stated.items() if _number(v) is not None}
            continue
        task_rows = [r for r in rows if r["task"] == task]
        recorded = [r["kinds"] for r in task_rows if r["kinds"] is not None]
        counts[task] = kind_counts(task, recorded) if task_rows and len(recorded) == len(task_rows) else None
    return counts


def kinds_charts(report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    tasks = report.get("tasks") or {}
    for task, counts in kinds_counts(report, rows).items():
        summary = tasks.get(task) if isinstance(tasks.get(task), Mapping) else {}
        title = str(summary.get("title") or task)
        n = summary.get("n_samples")
        n = n if isinstance(n, int) else sum(r["task"] == task for r in rows)
        if counts is None:
            body = "<p class=\"muted\">Kinds not recorded (a report written before triage).</p>"
        elif not counts:
            body = "<p class=\"muted\">No kinds found.</p>"
        else:
            body = kind_bars(counts, n, f"failure kinds of {title}")
        parts.append(f'<figure class="kinds" data-task="{escape(task)}"><figcaption>{escape(title)} '
                     f'<span class="muted">({n} samples)</span></figcaption>{body}</figure>')
    return "".join(parts) or "<p class=\"muted\">No samples in this report.</p>"


def comparison_tasks(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """`report["comparison"]` per task: either {task: {...}} or {"tasks": {task: {...}}, ...}."""
    comparison = report.get("comparison")
    if not isinstance(comparison, Mapping):
        return {}
    tasks = comparison.get("tasks") if isinstance(comparison.get("tasks"), Mapping) else comparison
    return {str(t): c for t, c in tasks.items() if isinstance(c, Mapping) and "difference" in c}


def forest_chart(report: Mapping[str, Any]) -> str:
    rows = []
    for task, entry in comparison_tasks(report).items():
        low, high = _ci(entry)
        p = _number(entry.get("p_value"))
        metric = entry.get("metric")
        summary = (report.get("tasks") or {}).get(task)
        title = str(summary.get("title") or task) if isinstance(summary, Mapping) else task
        label = f"{title} · {metric}" if isinstance(metric, str) else title
        shown = entry.get("p_shown")  # as the comparison prints it: a drawn p at its floor is a bound
        rows.append(Difference(label, _number(entry.get("difference")), low, high,
                               "" if p is None else f"p{shown.replace('≤ ', '≤')}" if isinstance(shown, str) and shown.startswith("≤")
                               else f"p={p:.3g}"))
    return forest(rows) if rows else ""


def _manifest(report: Mapping[str, Any]) -> str:
    manifest = report.get("manifest") if isinstance(report.get("manifest"), Mapping) else report.get("run")
    if not isinstance(manifest, Mapping):
        return "<p class=\"muted\">No manifest in this report.</p>"
    items = "".join(f"<dt>{escape(str(k))}</dt><dd>{escape(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))}</dd>"
                    for k, v in manifest.items())
    return f"<dl class=\"manifest\">{items}</dl>"


def _header(report: Mapping[str, Any]) -> str:
    # The manifest where it names a key, else the run section (a plugin run's manifest holds no model id).
    sections = [report.get(k) for k in ("run", "manifest")]
    run = {k: v for section in sections if isinstance(section, Mapping) for k, v in section.items()}
    model = run.get("model_id") or run.get("model") or "unknown model"
    if run.get("model_revision"):
        model = f"{model} (revision {run['model_revision']})"
    verdict = str(report.get("verdict") or "no verdict")
    bits = [f"profile {run.get('profile')}" if run.get("profile") else "", f"api {run.get('api')}" if run.get("api") else "",
            f"finished {run.get('finished')}" if run.get("finished") else ""]
    return (f"<h1>CLUE report: <span class=\"model\">{escape(str(model))}</span></h1>"
            f"<p class=\"run\"><span class=\"verdict verdict-{escape(re.sub(r'[^a-z]', '', verdict.lower()))}\">"
            f"gates: {escape(verdict)}</span> {escape(' · '.join(b for b in bits if b))}</p>")


def _gates(report: Mapping[str, Any]) -> str:
    gates = [g for g in report.get("gates") or [] if isinstance(g, Mapping)]
    if not gates:
        return "<p class=\"muted\">No gates configured.</p>"
    items = "".join(f"<li><span class=\"gate gate-{escape(re.sub(r'[^a-z]', '', str(g.get('status', '')).lower()))}\">"
                    f"{escape(str(g.get('status')))}</span> <code>{escape(str(g.get('gate')))}</code> "
                    f"{escape(str(g.get('detail', '')))}</li>" for g in gates)
    return f"<ul class=\"gates\">{items}</ul>"


def _metrics_table(report: Mapping[str, Any]) -> str:
    lines = []
    for task, summary in (report.get("tasks") or {}).items():
        if not isinstance(summary, Mapping):
            continue
        for name, entry in (summary.get("metrics") or {}).items():
            entry = entry if isinstance(entry, Mapping) else {}
            low, high = _ci(entry)
            value = _number(entry.get("value"))
            shown = "not computed" if value is None else f"{value:.3f}" + (
                f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else "")
            note = str(entry.get("not_computed") or "")
            lines.append(f"<tr><td>{escape(str(summary.get('title', task)))}</td><td>{escape(str(name))}</td>"
                         f"<td class=\"num\">{escape(shown)}</td><td class=\"num\">{escape(str(entry.get('n', '—')))}</td>"
                         f"<td class=\"note\">{escape(note)}</td></tr>")
    if not lines:
        return ""
    return ("<details class=\"all-metrics\"><summary>Every metric</summary><table><thead><tr><th>task</th><th>metric</th>"
            "<th>score [95% CI]</th><th>n</th><th>note</th></tr></thead><tbody>" + "".join(lines) + "</tbody></table></details>")


def script_json(data: Any) -> str:
    """JSON that is safe inside `<script type="application/json">`: nothing in it can end the element or
    start markup, and the line separators that old JavaScript parsers reject are escaped too."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    # A lone surrogate (from a \ud800 escape in the input) cannot be written as UTF-8: keep it as an escape.
    return re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text)


def page_data(report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    tasks = report.get("tasks") or {}
    comparison = comparison_tasks(report)
    rows = [dict(r) for r in rows]  # shared_prompt_starts shortens their prompts
    return {
        "tasks": [{"name": t, "title": str(tasks.get(t, {}).get("title", t)) if isinstance(tasks.get(t), Mapping) else t}
                  for t in _task_order(report, rows)],
        "kinds": [{"name": k.name, "definition": k.definition} for k in KINDS],
        "headline": {t: HEADLINE.get(t) for t in _task_order(report, rows)},
        "prompt_start": shared_prompt_starts(rows),
        "rows": list(rows),
        "comparison": {t: {"broke": [str(i) for i in c.get("broke") or []], "fixed": [str(i) for i in c.get("fixed") or []]}
                       for t, c in comparison.items()},
    }


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(_ASSETS, name).read_text(encoding="utf-8")


def render_page(report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> str:
    """The whole page as text (pure: the same report and rows give the same page)."""
    order = {task: i for i, task in enumerate(_task_order(report, rows))}
    rows = sorted(rows, key=lambda r: order[r["task"]])  # the report's task order, each task in file order
    forest_svg = forest_chart(report)
    comparison = ""
    if forest_svg:
        comparison = ("<section id=\"comparison\"><h2>Against the baseline</h2><p class=\"muted\">This run minus the "
                      "baseline, paired on sample ids; a whisker left of zero that does not cross it is a regression."
                      f"</p>{forest_svg}<div id=\"broke-fixed\"></div></section>")
    script = _asset("page.js")
    parts = {
        "STYLE": _asset("page.css"),
        "SCRIPT": script,
        # Only this exact script may run: an injected inline script or event handler would be refused too.
        "SCRIPT_HASH": "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode() + "'",
        "HEADER": _header(report),
        "MANIFEST": _manifest(report),
        "SCORES": score_chart(report) + _metrics_table(report),
        "GATES": _gates(report),
        "KINDS": kinds_charts(report, rows),
        "COMPARISON": comparison,
        "DATA": script_json(page_data(report, rows)),
    }
    # One pass, so nothing inserted is searched for markers again.
    return re.sub(r"<!--CLUE:(\w+)-->", lambda m: parts[m.group(1)], _asset("page.html"))


def write_html(report_dir: Path) -> Path:
    """Read the report directory back as a `Report` (document.py: the typed value a run writes) and write
    `index.html` from it into the folder; returns the page's path. The rows are the prediction files' own,
    already redacted where the run was."""
    from clue_checks.report.document import Report, ReportFormatError

    report_dir = Path(report_dir)
    try:
        report = Report.from_dict(load_report(report_dir))
    except ReportFormatError as exc:
        raise ReportDirError(f"{report_dir / REPORT_JSON}: {exc}") from None
    return write_page(report_dir, report.as_dict(), load_rows(report_dir))


def rows_of(rows_by_task: Mapping[str, Iterable[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Prediction rows held in memory (per task, as `predictions/<task>.jsonl` has them) as the page reads them."""
    keeper = _PromptKeeper()
    return [keeper.keep(normalise_row(raw, task)) for task, raws in rows_by_task.items() for raw in raws]


def write_page(report_dir: Path, report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write `index.html` of a report (its JSON form) and its rows (`rows_of`, `load_rows`)."""
    page = render_page(report, rows)
    path = Path(report_dir) / PAGE
    # Lone surrogates in the static part (a model id read from JSON) become "?" rather than failing the write.
    path.write_bytes(page.encode("utf-8", errors="replace"))
    return path
