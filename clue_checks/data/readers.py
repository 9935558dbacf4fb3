"""Format readers: JSON lines, JSON arrays, xlsx sheets, CSV. Each returns plain records."""

from __future__ import annotations

import csv
import datetime
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from python_calamine import CalamineWorkbook  # MeQSum's xlsx; about a millisecond to import

from clue_checks.data.errors import DataError


class Records(list):
    """Records in file order (a plain list), plus `wheres`: where each record is in the file,
    as error messages name it ("line 7", "record 3", "sheet 'QS' row 4")."""

    def __init__(self, items: Iterable[dict[str, Any]] = (), wheres: Iterable[str] = ()) -> None:
        super().__init__(items)
        self.wheres: list[str] = list(wheres)
        if len(self.wheres) != len(self):
            raise ValueError("one location per record")


FETCH_HINT = ("see docs/data.md for where this file comes from; --clue-data names "
              "the folder; --clue-tasks leaves out tasks whose data you do not have")


def require_file(path: Path) -> Path:
    if not path.parent.is_dir():
        raise DataError(path.parent, "data folder not found", hint=FETCH_HINT)
    if not path.is_file():
        raise DataError(path, "data file not found", hint=FETCH_HINT)
    return path


def require_fields(path: Path, where: str, record: dict[str, Any], fields: Sequence[str]) -> None:
    for name in fields:
        if name not in record:
            present = ", ".join(sorted(map(str, record))) or "none"
            raise DataError(path, f"missing field {name!r} (fields present: {present})", where=where)
        if not isinstance(record[name], str):
            raise DataError(
                path, f"field {name!r} must be text, got {type(record[name]).__name__}", where=where
            )


def read_text(path: Path) -> str:
    """The whole file as text. Bytes that are not UTF-8 are a DataError naming the line and the byte
    (a raw UnicodeDecodeError names neither); a byte-order mark (files re-saved by Excel or Notepad)
    is dropped, not an error."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raw = exc.object  # without the byte-order mark, which exc.start does not count
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        byte = raw[exc.start:exc.start + 1].hex()
        raise DataError(
            path, f"not UTF-8 text: byte 0x{byte} at byte {exc.start - line_start + 1} of the line ({exc.reason})",
            where=f"line {line}",
            hint="save the file as UTF-8, e.g. `iconv -f latin1 -t utf-8 FILE > FILE.utf8` for a Latin-1 file",
        ) from None


# No record of a CLUE data set comes near this; a longer line is garbage, refused without reading it all.
MAX_LINE_CHARS = 32 * 1024 * 1024


def _file_lines(path: Path, newline: str | None = None) -> Iterator[str]:
    """The file's lines as a text-mode file splits them (\\n, \\r\\n or \\r end a line; U+2028 inside a
    JSON string does not), read one at a time: a huge file, or a huge line of garbage, never sits in
    memory whole; a line over MAX_LINE_CHARS is a DataError naming it. A byte-order mark is dropped."""
    try:
        with path.open(encoding="utf-8-sig", newline=newline) as handle:
            number = 0
            while True:
                line = handle.readline(MAX_LINE_CHARS + 1)
                if not line:
                    return
                number += 1
                if len(line) > MAX_LINE_CHARS:
                    raise DataError(path, f"a line of more than {MAX_LINE_CHARS:,} characters, which no record of "
                                    "this data set has: the file is damaged or not this data set",
                                    where=f"line {number}")
                yield line
    except UnicodeDecodeError:
        read_text(path)  # names the line and the byte
        raise


def _json_object(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        # json's messages can end in " at" ("Invalid control character at"): no "at at column".
        message = exc.msg.removesuffix(" at")
        raise DataError(path, f"malformed JSON: {message} at column {exc.colno}", where=f"line {number}") from None
    if not isinstance(record, dict):
        raise DataError(path, "each line must be a JSON object", where=f"line {number}")
    return record


def _json_lines(path: Path, lines: Iterable[str]) -> Records:
    """JSON lines, blank lines skipped, each a JSON object; located by their line number."""
    numbered = [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]
    return Records((_json_object(path, number, line) for number, line in numbered),
                   (f"line {number}" for number, _ in numbered))


def read_jsonl(path: Path, fields: Sequence[str]) -> Records:
    """JSON lines; every record must carry `fields` as strings."""
    require_file(path)
    records = _json_lines(path, _file_lines(path))
    for where, record in zip(records.wheres, records):
        require_fields(path, where, record, fields)
    if not records:
        raise DataError(path, "no records in file")
    return records


def read_json_records(path: Path) -> Records:
    """A JSON array of objects ("record N", 1-based), or JSON lines ("line N"): CLUE's generators
    write JSONL, its evaluators read arrays."""
    require_file(path)
    if not _starts_an_array(path):
        return _json_lines(path, _file_lines(path))
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(path, f"malformed JSON: {exc.msg}", where=f"line {exc.lineno} column {exc.colno}") from None
    for index, record in enumerate(data):
        if not isinstance(record, dict):
            raise DataError(path, "each array element must be a JSON object", where=f"record {index + 1}")
    return Records(data, (f"record {index}" for index in range(1, len(data) + 1)))


def _starts_an_array(path: Path) -> bool:
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(1 << 16)
            if not chunk:
                return False
            stripped = chunk.lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()
            if stripped:
                return stripped.startswith(b"[")


def read_xlsx(path: Path, sheet: str, columns: Sequence[str]) -> Records:
    """One worksheet with a header row; only the named columns are kept, as text.

    Read with python-calamine (Rust): MeQSum's 1,000 rows in milliseconds, where openpyxl took a quarter
    of a second with its import. Cells come back as openpyxl gave them (tests/datasets/test_xlsx_reader.py
    compares the two): an integral number as an int, a date as a datetime, then as text.
    """
    require_file(path)
    try:
        workbook = CalamineWorkbook.from_path(str(path))
        if sheet not in workbook.sheet_names:
            raise DataError(path, f"worksheet {sheet!r} not found (sheets: {', '.join(workbook.sheet_names)})")
        # skip_empty_area=False: rows and columns keep their place in the sheet, so row numbers are the sheet's.
        rows = iter(workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False))
    except DataError:
        raise
    except Exception as exc:  # calamine raises its own errors, zip and XML ones for a non-xlsx file
        raise DataError(path, f"not a readable xlsx workbook ({exc.__class__.__name__}: {exc})") from None
    header = [_cell_text(c).strip() for c in next(rows, ())]
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(
            path,
            f"missing column(s) {', '.join(map(repr, missing))} (header has: {', '.join(h for h in header if h)})",
            where=f"sheet {sheet!r} row 1",
        )
    index = {c: header.index(c) for c in columns}
    records = Records()
    for number, row in enumerate(rows, start=2):
        if all(v == "" for v in row):
            continue
        record = {}
        for name, col in index.items():
            value = row[col] if col < len(row) else ""
            if value == "":  # calamine's empty cell (and a formula without a cached value)
                raise DataError(path, f"empty cell in column {name!r}", where=f"sheet {sheet!r} row {number}")
            record[name] = _cell_text(value)
        records.append(record)
        records.wheres.append(f"sheet {sheet!r} row {number}")
    return records


def _cell_text(value: Any) -> str:
    """A cell as text, as openpyxl's value would print: calamine gives every number as a float and a date
    cell as a date, where openpyxl gave an int for a number written without a fraction and a datetime."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and repr(value).endswith(".0"):
        return str(int(value))
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return str(datetime.datetime(value.year, value.month, value.day))
    return str(value)


def read_csv(path: Path) -> tuple[list[str], Records]:
    """A CSV with a header row: (header, records as dicts of strings, as csv.DictReader gives them).

    Fields may span lines (clinical notes do), so each record is located by the file line it
    starts on, not by its index. Blank lines are skipped; a short row has None for the missing
    columns (DictReader's restval), extra fields are dropped.
    """
    require_file(path)
    try:
        return _read_csv(path)
    except UnicodeDecodeError:
        read_text(path)  # names the line and the byte
        raise


def _read_csv(path: Path) -> tuple[list[str], Records]:
    # Read as it goes (a huge file never sits in memory whole; csv refuses a field past its limit);
    # utf-8-sig drops a byte-order mark (Excel exports), which would otherwise hide the first column's name.
    lines = _file_lines(path, newline="")
    reader = csv.reader(lines)
    records = Records()
    try:
        header = next(reader, [])
        while True:
            start = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                break
            if not row:
                continue
            record: dict[str, Any] = dict.fromkeys(header)
            record.update(zip(header, row))
            records.append(record)
            records.wheres.append(f"line {start}")
    except csv.Error as exc:
        raise DataError(path, f"malformed CSV: {exc}", where=f"line {reader.line_num}") from None
    finally:
        lines.close()  # the file, also when a record stops the reading
    return list(header), records


def unique_ids(path: Path, ids: Iterable[str], field: str, wheres: Sequence[str] | None = None) -> None:
    """Sample ids must be unique; `wheres` (e.g. `Records.wheres`) names where each id is in the file."""
    seen: set[str] = set()
    for index, value in enumerate(ids):
        if value in seen:
            where = wheres[index] if wheres is not None else f"record {index + 1}"
            raise DataError(path, f"duplicate {field} {value!r}: sample ids must be unique", where=where)
        seen.add(value)
