"""The page's rows of a run's report, each long prompt decoded only where the page shows it.

The page shows of each prompt the start its task's prompts share, then the next PROMPT_HEAD characters and the
last PROMPT_TAIL (html_rows.PromptKeeper). A LongHealth prompt is ~30 KB of JSON: decoding it whole for the
page was most of the cost of a page row. Where the spool says where a prompt's JSON lies and how many
characters it has (`TextRef.parts`, `TextRef.chars`), two windows of it are decoded instead: the head window
starts right after the shared start's JSON (spliced.PageFacts), between two characters; the tail window
starts at a space byte, which JSON holds only as a space character. The rows come out as PromptKeeper would
have cut them from the whole prompts (`html_rows.KEPT_CHARS`), so the page is the same, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from clue_checks.record import SampleRecord
from clue_checks.report.write.html_rows import KEPT_CHARS, PROMPT_HEAD, PROMPT_TAIL
from clue_checks.report.write.pieces import prediction_row, row_read_back
from clue_checks.report.write.spliced import PageFacts, decoded_start
from clue_checks.text_spool import SpoolReader

HEAD_BYTES = 6 * PROMPT_HEAD + 6  # a character's JSON is at most 6 bytes (`\u001f`), and a cut one is dropped
SLACK = 256  # how far into the tail window a space is looked for
TAIL_BYTES = 6 * PROMPT_TAIL + SLACK


def page_rows(records_by_task: Mapping[str, Iterable[SampleRecord]],
              page: PageFacts) -> dict[str, Iterator[dict[str, Any]]]:
    """Per task, the prediction rows in scoring order as the page reads them (`folder.prediction_rows`), a long
    prompt kept as PromptKeeper keeps it. `page`: what `write_files` found (its `known()` is not None)."""
    shared = page.shared()
    return {task: _rows(task, records, shared) for task, records in records_by_task.items()}


def _rows(task: str, records: Iterable[SampleRecord],
          shared: Mapping[str, tuple[str, int]]) -> Iterator[dict[str, Any]]:
    with SpoolReader() as reader:
        for record in sorted(records, key=lambda r: r.index):
            ref = record.texts
            fragments = reader.fragments(ref) if ref is not None else None
            if ref is None or fragments is None:
                yield row_read_back(record, reader)
                continue
            texts = {"response": _loads(fragments[1]), "reference": _loads(fragments[2])}
            kept = kept_prompt(fragments[0], ref.chars, *shared[task]) if ref.chars is not None and task in shared \
                else None
            row = prediction_row(record, {"prompt": _loads(fragments[0]) if kept is None else kept, **texts})
            if kept is not None:
                row[KEPT_CHARS] = ref.chars
            yield row


def kept_prompt(fragment: bytes, chars: int, shared: str, start: int) -> str | None:
    """Of a prompt of `chars` characters, JSON-encoded in `fragment` whose first `start` bytes are the JSON of its
    task's shared start `shared`: its first len(shared) + PROMPT_HEAD characters and its last PROMPT_TAIL, decoded
    from two windows. None where the page would show it whole, or it is too short for the windows, or the tail
    window holds no space near its start."""
    if chars - len(shared) <= PROMPT_HEAD + PROMPT_TAIL or len(fragment) <= start + HEAD_BYTES + TAIL_BYTES + 1:
        return None
    head, _ = decoded_start(b'"' + fragment[start:start + HEAD_BYTES])
    window = fragment[len(fragment) - 1 - TAIL_BYTES:-1]
    space = window.find(b" ", 0, SLACK)
    if space < 0:
        return None
    tail = _loads(b'"' + window[space:] + b'"')
    return shared + head[:PROMPT_HEAD] + tail[-PROMPT_TAIL:]


def _loads(fragment: bytes) -> Any:
    return json.loads(fragment.decode("utf-8", "surrogatepass"))
