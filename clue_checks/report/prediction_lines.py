"""The rows of a `predictions/<task>.jsonl` file read back: one JSON object per line, for every reader of them.

The merge of shards, the HTML page, the comparison with a baseline report and `--clue-kind` all read these
files; they share this reader, so a damaged file gets the same message, naming the file and the line,
whichever command meets it. A line ends at "\\n" only, as JSON Lines defines it (https://jsonlines.org/):
the files are written with `ensure_ascii=False`, and JSON leaves U+2028, U+2029 and U+0085 in a string
unescaped, so a model's answer may hold them, and `str.splitlines()` would cut that row in two at each.
The file is read a line at a time: a full LongHealth run's rows carry 6,000 prompts of ~30 KB.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from clue_checks.errors import ReportError


class PredictionLineError(ReportError, ValueError):
    """A prediction file that cannot be read, or a line of it that is not a JSON object; names both."""


def prediction_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for each line of `path` that is not blank."""
    for number, _, _, row in placed_prediction_rows(path):
        yield number, row


def placed_prediction_rows(path: Path) -> Iterator[tuple[int, int, int, dict[str, Any]]]:
    """(line number, byte offset, byte length, row) for each line of `path` that is not blank: where each row
    lies, for a reader that keeps only that (text_spool.TextRef)."""
    try:
        with path.open("rb") as handle:
            offset = 0
            for number, raw in enumerate(handle, start=1):  # a binary file's lines end at b"\n" only
                if raw.strip():
                    yield number, offset, len(raw.rstrip(b"\r\n")), _row(path, number, raw)
                offset += len(raw)
    except OSError as exc:
        raise PredictionLineError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def _row(path: Path, number: int, raw: bytes) -> dict[str, Any]:
    where = f"{path}, line {number}"
    try:
        row = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PredictionLineError(f"{where}: not UTF-8 text (byte 0x{raw[exc.start:exc.start + 1].hex()} at byte "
                                  f"{exc.start + 1}); the file was changed after the run wrote it: rerun it") from None
    except json.JSONDecodeError as exc:
        raise PredictionLineError(f"{where}: not a JSON object ({exc.msg}); the run that wrote it may have been "
                                  "cut short: rerun it, or delete that line") from None
    if not isinstance(row, dict):
        raise PredictionLineError(f"{where}: expected a JSON object, got {type(row).__name__}")
    return row
