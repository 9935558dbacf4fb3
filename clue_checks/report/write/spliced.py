"""The lines of `predictions/<task>.jsonl` with each sample's texts spliced in as the spool holds them.

A spool line holds each text JSON-encoded exactly as a prediction row encodes it (`ensure_ascii=False`), and
its `TextRef` says where (text_spool.py). Decoding a ~30 KB LongHealth prompt only to encode it again was
most of the cost of writing a run's report; here the row's other values are encoded and the texts' bytes
put between them: `json.dumps(row, ensure_ascii=False)` of a dict with str keys is "{", then each
`key: value` joined by ", ", then "}", so the line comes out byte for byte the same.

As the lines are written, `PageFacts` keeps what the page's first look at the rows needs (each row's task
and kinds, and the start each task's prompts share, found on the encoded prompts): the page then reads the
texts once more, not twice (html_stream.py).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from clue_checks.record import SampleRecord
from clue_checks.report.write.html_rows import common_prefix
from clue_checks.report.write.pieces import prediction_row, row_read_back
from clue_checks.text_spool import TEXT_KEYS, SpoolReader

NEWLINE = os.linesep.encode()  # what a text-mode file writes for "\n" (a JSON line holds no other "\n")
_SURROGATE = re.compile(rb"\xed[\xa0-\xbf]")  # a lone surrogate as "surrogatepass" encodes it
_MARKER = re.compile(rb'"\\u0000([0-9]+)"')  # `dumps_spliced`'s marker, a NUL and the key's number, as JSON
_ENCODER = json.JSONEncoder(ensure_ascii=False)  # json.dumps(value, ensure_ascii=False), without a new encoder a call
# The row keys each text's JSON goes under (prediction_row: CLUE's keys, then the record's own).
_KEYS = {"prompt": ("prompt",), "response": ("Model Answer", "response"),
         "reference": ("Ground Truth Answer", "reference")}


def dumps_spliced(row: Mapping[str, Any], fragments: Mapping[str, bytes]) -> bytes | None:
    """`json.dumps(row, ensure_ascii=False)` encoded as UTF-8, each key of `fragments` with the JSON given there
    in place of its value's; None where the row's other values hold what marks the places (a NUL and a digit).
    The row is encoded once (one encoder call, not one a value) with a marker for each of those values, and the
    line cut at the markers: any other string holding a marker's JSON adds a match, so markers found exactly
    once each are the values' places. Raises UnicodeEncodeError where the rest holds a lone surrogate."""
    marks = {key: f"\x00{i}" for i, key in enumerate(fragments)}
    marked = _ENCODER.encode({k: marks[k] if k in marks else v for k, v in row.items()})
    pieces = _MARKER.split(marked.encode("utf-8"))
    found = pieces[1::2]
    if len(found) != len(marks) or len(set(found)) != len(marks) or not marks.keys() <= row.keys():
        return None  # each marker is in the line: n distinct matches are they
    by_number = [fragments[key] for key in marks]
    pieces[1::2] = [by_number[int(n)] for n in found]
    return b"".join(pieces)


def plain_line(row: Mapping[str, Any]) -> bytes:
    """The line as a text file opened with encoding="utf-8" writes `json.dumps(row, ensure_ascii=False) + "\\n"`
    (a lone surrogate raises the same UnicodeEncodeError)."""
    return json.dumps(row, ensure_ascii=False).encode("utf-8") + NEWLINE


def prediction_lines(task: str, records: Iterable[SampleRecord], reader: SpoolReader,
                     page: "PageFacts") -> Iterator[bytes]:
    """Each record's line of `predictions/<task>.jsonl`, spliced where its texts lie in a spool line; the page's
    facts kept in `page`. Raises TextSpoolError."""
    for record in records:
        ref = record.texts
        fragments = reader.fragments(ref) if ref is not None else None
        if ref is not None and fragments is not None and \
                not any(b"\xed" in f and _SURROGATE.search(f) for f in fragments):
            row = prediction_row(record, dict.fromkeys(TEXT_KEYS))
            try:
                line = dumps_spliced(row, {key: text for name, text in zip(TEXT_KEYS, fragments)
                                           for key in _KEYS[name]})
            except UnicodeEncodeError:  # another value holds a lone surrogate: fail as the plain line fails
                line = None
            if line is not None:
                page.add(task, record, fragments[0])
                yield line + NEWLINE
                continue
        row = row_read_back(record, reader)
        page.add(task, record, row["prompt"])
        yield plain_line(row)


class PageFacts:
    """What the page's first pass over the rows finds (html_stream.py), kept as the prediction lines are written:
    each row's task and kinds, and per task the start its prompts share. A row whose task is not its file's, or
    whose prompt is not text, leaves the page to find them itself (`known` is None then)."""

    def __init__(self) -> None:
        self.light: list[dict[str, Any]] = []
        self._start: dict[str, bytes] = {}  # per task, the bytes its spliced prompts' JSON share
        self._text: dict[str, str] = {}  # per task, the start its prompts read back whole share
        self._prompts: dict[str, int] = {}
        self._whole = True
        self._shared: dict[str, tuple[str, int]] | None = None  # per task: the start shared, its JSON's length

    def give_up(self) -> None:
        self._whole = False

    def add(self, task_of_file: str, record: SampleRecord, prompt: bytes | str | None) -> None:
        """A row and its prompt: its JSON as the line holds it (bytes), or the prompt read back (a str); None
        (or JSON's null): no prompt."""
        task = record.task or task_of_file  # html_rows.normalise_row's task
        if task != task_of_file:
            self._whole = False
        self.light.append({"task": task, "kinds": [str(k) for k in record.kinds]})
        if prompt is None or prompt == b"null":
            return
        if isinstance(prompt, bytes):
            start = self._start.get(task)
            self._start[task] = prompt if start is None else common_prefix(start, prompt)
        elif isinstance(prompt, str):
            text = self._text.get(task)
            self._text[task] = prompt if text is None else common_prefix(text, prompt)
        else:  # a prompt that is not text (a foreign prediction file): the page's own pass reads it
            self._whole = False
        self._prompts[task] = self._prompts.get(task, 0) + 1

    def known(self) -> tuple[list[dict[str, Any]], dict[str, str]] | None:
        """(the rows' tasks and kinds, per task the prompt start they share) as the page's first pass finds them."""
        if not self._whole:
            return None
        return self.light, {task: text for task, (text, _) in self.shared().items()}

    def shared(self) -> dict[str, tuple[str, int]]:
        """Per task, the start its prompts share and the byte length of its JSON in theirs (the opening quote
        counted): a task of one prompt shares nothing."""
        if self._shared is None:
            self._shared = {t: (self._shared_start(t) if n > 1 else ("", 1)) for t, n in self._prompts.items()}
        return self._shared

    def _shared_start(self, task: str) -> tuple[str, int]:
        data, text = self._start.get(task), self._text.get(task)
        if text is not None:  # prompts read back whole: their shared start's JSON (no closing quote) joins in
            encoded = json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass")[:-1]
            data = encoded if data is None else common_prefix(data, encoded)
        return decoded_start(data or b'"')  # a task counted here has a prompt of one kind or the other


def decoded_start(data: bytes) -> tuple[str, int]:
    """The text whose JSON is the longest start of `data` (a JSON string's start) that ends between two
    characters, and that start's length in bytes. Each character's JSON (its UTF-8 bytes, or an escape) is no
    other's start, so prompts' encodings part within the first character they do not share, and at most 6
    bytes are to be cut."""
    if data.endswith(b'"') and len(data) > 1:  # an unescaped quote ends a JSON string: the whole string
        try:
            return json.loads(data.decode("utf-8", "surrogatepass")), len(data) - 1
        except ValueError:
            pass  # it was an escaped quote: `\"`, a character they share, and more after it
    for end in range(len(data), max(len(data) - 7, 0), -1):
        try:
            return json.loads(data[:end].decode("utf-8", "surrogatepass") + '"'), end
        except ValueError:
            continue
    raise ValueError("not the start of a JSON string")  # every prompt's JSON starts with a quote
