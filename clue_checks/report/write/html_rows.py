"""The prediction rows as the report page reads them: every field present, long texts cut, prompts kept only as
far as the page shows them.

Rows are read defensively: older rows carry CLUE's keys only (`id`, `Model Answer`, `Ground Truth Answer`, metric
values, `reason`); newer ones add `task`, `kinds`, `finish_reason`, tokens, latency, `prompt`, `parsed_answer`
(older rows: `parsed`), `metrics`, a `baseline` … Whatever a row lacks is None (the page shows "—").
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Prompts are most of a report's text. The part every prompt of a task shares (system prompt, few-shot
# examples) is stored once per task; of the rest the page keeps the start and the end, where the question and
# the answer format are. A LongHealth prompt (~8,000 tokens of documents, 6,000 prompts in a full run) would
# otherwise make a page of hundreds of MB. The full prompt is in the prediction files.
PROMPT_HEAD = 500
PROMPT_TAIL = 1_500
TEXT_CAP = 50_000  # a response or reference longer than this (a loop to the token limit) is cut, and says so
# Row keys that are not metric values, when a row carries its metrics at the top level (CLUE's layout).
_NOT_METRICS = {"index", "tokens_in", "tokens_out", "latency_s"}
_TRIMMED = "_prompt_trimmed"  # a row key: its prompt lost a middle part that the page never shows
# A raw row's key (page_rows.py): its prompt already cut as PromptKeeper cuts it; the value, the full length
KEPT_CHARS = "\x00prompt_chars"


class PromptKeeper:
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


def kept(row: dict[str, Any], chars: int) -> dict[str, Any]:
    """A normalised row whose prompt a reader already cut as `PromptKeeper` cuts it, of a prompt of `chars`
    characters (page_rows.py)."""
    row["prompt_chars"] = chars
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
    """`length`: the text's full length, where the text already lacks a middle part (`PromptKeeper`)."""
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
        starts[task] = shortened_start(start)
        for r in task_rows:
            shortened_rest(r, len(start))
    return starts


def shortened_start(start: str) -> str:
    """A task's shared prompt start as the page stores it."""
    return _shortened(start, 4 * PROMPT_HEAD, 4 * PROMPT_TAIL) or ""


def shortened_rest(row: dict[str, Any], shared: int) -> dict[str, Any]:
    """The row (mutated) with its prompt after the `shared` characters of its task's start, shortened."""
    length = row["prompt_chars"] - shared if row.pop(_TRIMMED, False) else None
    row["prompt"] = _shortened(row["prompt"][shared:], length=length)
    return row


def number(value: Any) -> float | None:
    """A finite int or float as it is; anything else (a bool, a string, NaN) None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def _metrics(raw: Mapping[str, Any]) -> dict[str, float | None]:
    if isinstance(raw.get("metrics"), Mapping):
        return {str(k): number(v) for k, v in raw["metrics"].items()}
    # CLUE's layout: metric values as top-level numbers (LongHealth's `parsed` share among them).
    return {k: number(v) for k, v in raw.items()
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
        "tokens_in": number(raw.get("tokens_in")),
        "tokens_out": number(raw.get("tokens_out")),
        "latency_s": number(raw.get("latency_s")),
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


def rows_of(rows_by_task: Mapping[str, Iterable[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Prediction rows held in memory (per task, as `predictions/<task>.jsonl` has them) as the page reads them."""
    keeper = PromptKeeper()
    return [keeper.keep(normalise_row(raw, task)) for task, raws in rows_by_task.items() for raw in raws]
