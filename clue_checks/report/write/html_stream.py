"""`index.html` of a run written as its rows are read, byte for byte the page `html.write_page` writes.

The page's JSON island holds every row, its prompt cut after the start its task's prompts share
(`html_rows.shared_prompt_starts`): held whole, 20,000 LongHealth rows were the largest thing in memory
while a run's report was written. Here the rows are read twice, one at a time (each sample's texts read
back from where they lie): the first pass finds each task's shared start and its kinds, the second
writes each row into the island as it comes. What stays in memory per row is its task and kinds. A
run's report finds the first pass's answers as it writes the prediction files (spliced.PageFacts),
so its rows are read once here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from markupsafe import Markup

from clue_checks.report.files import PAGE
from clue_checks.report.write import html_view as view
from clue_checks.report.write.html import page_around, write_page
from clue_checks.report.write.html_rows import (KEPT_CHARS, PromptKeeper, common_prefix, kept, normalise_row,
                                                 shortened_rest, shortened_start)

Rows = Callable[[], Mapping[str, Iterable[Mapping[str, Any]]]]  # a fresh read of the rows, per task
_ISLAND = "\x00clue-data\x00"  # where the JSON island goes in the rendered template (no report text holds NUL)


class _Starts:
    """Pass one: per task, the start its prompts share, and each row's task and kinds (the kinds figures)."""

    def __init__(self) -> None:
        self.start: dict[str, str] = {}
        self.prompts: dict[str, int] = {}
        self.light: list[dict[str, Any]] = []

    def add(self, row: Mapping[str, Any]) -> None:
        self.light.append({"task": row["task"], "kinds": row["kinds"]})
        prompt = row["prompt"]
        if prompt is not None:
            task = row["task"]
            self.start[task] = prompt if task not in self.start else common_prefix(self.start[task], prompt)
            self.prompts[task] = self.prompts.get(task, 0) + 1

    def shared(self) -> dict[str, str]:
        """`shared_prompt_starts`'s answer: a task of one prompt shares nothing."""
        return {t: (s if self.prompts[t] > 1 else "") for t, s in self.start.items()}


def write_streamed_page(report_dir: Path, report: Mapping[str, Any], rows: Rows,
                        known: tuple[list[dict[str, Any]], Mapping[str, str]] | None = None) -> Path:
    """Write `index.html` of a report (its JSON form) and its prediction rows, read twice from `rows`. `known`:
    what the first pass finds (each row's task and kinds, per task the prompt start shared), found as the
    prediction files were written (spliced.PageFacts): the rows are then read once."""
    if known is None:
        starts = _Starts()
        for task, raws in rows().items():
            for raw in raws:
                row = normalise_row(raw, task)
                if row["task"] != task:  # a row of another task in a task's file: the page of all rows at once
                    return write_page(report_dir, report, [PromptKeeper().keep(normalise_row(r, t))
                                                           for t, rs in rows().items() for r in rs])
                starts.add(row)
        known = starts.light, starts.shared()
    light, shared = known
    order = view.task_order(report, light)
    frame = view.page_frame(report, light, {t: shortened_start(s) for t, s in shared.items()}, [])
    head, tail = page_around(report, light, Markup(_ISLAND)).split(_ISLAND)
    path = Path(report_dir) / PAGE
    with path.open("wb") as out:
        out.write(head.encode("utf-8", errors="replace"))
        _island(out, frame, _rows_in_order(rows, order, shared))
        out.write(tail.encode("utf-8", errors="replace"))
    return path


def _rows_in_order(rows: Rows, order: list[str], shared: Mapping[str, str]) -> Iterator[dict[str, Any]]:
    """Pass two: the rows in the report's task order, each prompt cut as `shared_prompt_starts` cuts it."""
    by_task = rows()
    keeper = PromptKeeper()
    for task in order:
        cut = len(shared.get(task, ""))
        for raw in by_task.get(task, ()):
            chars = raw.get(KEPT_CHARS)  # a prompt the reader cut already (page_rows.py)
            row = keeper.keep(normalise_row(raw, task)) if chars is None else kept(normalise_row(raw, task), chars)
            if row["prompt"] is not None:
                row = shortened_rest(row, cut)
            yield row


def _island(out: BinaryIO, frame: Mapping[str, Any], rows: Iterable[Mapping[str, Any]]) -> None:
    """`script_json(frame with its rows)`, written a piece at a time (its escapes are of single characters,
    so the pieces escaped one by one are the whole escaped)."""
    out.write(b"{")
    for i, (key, value) in enumerate(frame.items()):
        out.write((("," if i else "") + json.dumps(key) + ":").encode("utf-8"))
        if key != "rows":
            out.write(view.script_json(value).encode("utf-8"))
            continue
        out.write(b"[")
        for n, row in enumerate(rows):
            out.write((("," if n else "") + view.script_json(row)).encode("utf-8"))
        out.write(b"]")
    out.write(b"}")

