"""A parsed copy of a slow data file, kept by the file's content: the next run on it skips the parser.

A workbook is the slow one. openpyxl's import (which imports numpy) and its parse of MeQSum's
1,000 rows take about 0.25 s, all of it before the first request can be sent. The records a reader
gives are plain text, so they are kept as JSON, named by the sha256 of the file's bytes, the
reader's arguments and FORMAT: a changed file, other columns or another layout of this module
never meet an old copy. An unreadable or malformed copy is read anew and replaced; a copy that
cannot be written is skipped. The copy is what the reader returned, so the records, their
locations in the file and any DataError are the reader's own.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from .modes import as_created
from .readers import Records

FORMAT = 1  # raise when the stored layout or what the readers return changes


class ParsedCache:
    """`folder` gives the cache folder when first needed (None: keep nothing)."""

    def __init__(self, folder: Callable[[], Path] | None = None) -> None:
        self._folder = folder

    def records(self, path: Path, reader: str, args: Sequence[str], read: Callable[[], Records]) -> Records:
        """`read()`'s records for `path`, from the copy made by an earlier run on the same bytes when there is one."""
        if self._folder is None:
            return read()
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return read()  # missing or unreadable: the reader says so in its own words
        key = hashlib.sha256(json.dumps([FORMAT, reader, list(args), digest]).encode()).hexdigest()[:32]
        try:
            folder = self._folder()
        except OSError:
            return read()
        # Named by the file's place too, so that replacing a file's copy removes only that file's older ones.
        place = hashlib.sha256(str(path.resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:12]
        copy = folder / f"{path.name}.{place}.{key}.json"
        found = _load(copy)
        if found is not None:
            return found
        records = read()
        _save(copy, records)
        return records


def _load(copy: Path) -> Records | None:
    try:
        data = json.loads(copy.read_text(encoding="utf-8"))
        rows, wheres = data["records"], data["wheres"]
        if data.get("format") != FORMAT or not all(
                isinstance(row, dict) and all(isinstance(v, str) for v in row.values()) for row in rows):
            return None
        return Records(rows, wheres)  # a length mismatch raises ValueError
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _save(copy: Path, records: Records) -> None:
    """Write atomically (two xdist workers may write the same copy); drop copies of older versions of the file."""
    text = json.dumps({"format": FORMAT, "records": list(records), "wheres": records.wheres}, ensure_ascii=False)
    try:
        handle, temporary = tempfile.mkstemp(dir=copy.parent, prefix=".tmp-", suffix=".json")
        try:
            as_created(Path(temporary))  # the user's umask, not tempfile's 0600
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary, copy)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        for old in copy.parent.glob(f"{glob.escape(copy.name.rsplit('.', 2)[0])}.*.json"):
            if old != copy:
                old.unlink(missing_ok=True)
    except OSError:
        pass  # a copy is only a shortcut: the records were read, the run goes on
