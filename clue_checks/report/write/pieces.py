"""Pieces the writers share (report/write/): the task table's rows, level lines, the request line, the
manifest as Markdown; and the prediction rows: `predictions/<task>.jsonl` holds one full sample record per
line (`prediction_row`), which `read_predictions` reads back (`clue report merge` recomputes every number
from these).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clue_checks.record import SampleRecord
from clue_checks.text_spool import TEXT_KEYS, SpoolReader
from clue_checks.report.numbers.task_summary import TaskSummary
from clue_checks.report.files import PREDICTIONS
from clue_checks.report.numbers.levels import LevelScore
from clue_checks.report.prediction_lines import placed_prediction_rows


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
            lines.append(f"{lv.label}: not computed: {lv.not_computed}")
        else:
            parts = ", ".join(f"{name} {value:.3f}" for name, value in lv.components.items())
            caveat = f" (incomplete: {', '.join(lv.incomplete)})" if lv.incomplete else ""
            lines.append(f"{lv.label}: {lv.value:.3f}{_ci(lv.ci_low, lv.ci_high)} = mean of {parts}{caveat}")
    return lines


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


def prediction_row(record: SampleRecord, texts: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One line of `predictions/<task>.jsonl`: CLUE's own keys (to diff against CLUE's predictions files),
    then every field of the sample record (`record_of_row` reads it back). The record's `parsed` (the answer the
    task's parser read) is written as `parsed_answer`: LongHealth has a metric named `parsed` (0/1, under
    `metrics`), and CLUE's own files put metrics at the top level, so the name would mean two things.
    `texts`: the record's texts read back (`TextRef`), the row then that of `record.filled()`."""
    fields = {("parsed_answer" if k == "parsed" else k): v for k, v in record.as_dict().items()}
    if texts is not None:
        fields.pop("texts", None)
        fields.update((key, texts[key]) for key in TEXT_KEYS)  # keys already there: their places kept
    return {"id": record.sample_id, "Model Answer": fields["response"], "Ground Truth Answer": fields["reference"],
            **fields}


def row_read_back(record: SampleRecord, reader: SpoolReader) -> dict[str, Any]:
    """`prediction_row` of the record with its texts read back through `reader` from where they lie."""
    return prediction_row(record, reader.texts(record.texts) if record.texts is not None else None)


def record_of_row(row: Mapping[str, Any]) -> SampleRecord:
    """The sample record of a prediction row (`parsed_answer`, or an older row's `parsed`, is its parsed answer)."""
    data = dict(row)
    if "parsed_answer" in data:
        data["parsed"] = data.pop("parsed_answer")
    return SampleRecord.from_dict(data)


def read_predictions(directory: Path, *, texts_apart: bool = False) -> dict[str, list[SampleRecord]]:
    """The sample records of a report folder, per task (raises OSError / ValueError naming the file and line).
    `texts_apart`: each record's prompt, response and reference stay in the file, the record says where
    (`SampleRecord.filled` reads them back): a merge of full-scale shards holds no prompt in memory."""
    out: dict[str, list[SampleRecord]] = {}
    for path in sorted((directory / PREDICTIONS).glob("*.jsonl")):
        rows = out.setdefault(path.stem, [])
        for number, offset, length, row in placed_prediction_rows(path):
            if texts_apart:
                row = {**{k: v for k, v in row.items() if k not in TEXT_KEYS},
                       "texts": {"file": str(path), "offset": offset, "length": length}}
            try:
                rows.append(record_of_row(row))
            except (ValueError, TypeError, KeyError) as exc:
                raise ValueError(f"{path}, line {number}: not a sample record ({exc})") from None
    return out
