"""The xlsx reader (python-calamine) gives the rows openpyxl gave: same strings, numbers printed alike.

openpyxl is the reference here (and in the test extra): it was the reader before, and it writes the
workbooks these tests read.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clue_checks.data.errors import DataError
from clue_checks.data.readers import read_xlsx

FIXTURES = Path(__file__).resolve().parents[2] / "clue_checks" / "fixtures"
MEQSUM = FIXTURES / "MeQSum" / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
COLUMNS = ("File", "CHQ", "Summary")


def openpyxl_rows(path: Path, sheet: str, columns=COLUMNS) -> list[tuple[str, dict[str, str]]]:
    """The rows as the openpyxl reader made them: (where, record), empty rows skipped, values as text."""
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        rows = workbook[sheet].iter_rows(values_only=True)
        header = [str(c).strip() if c is not None else "" for c in next(rows, ())]
        index = {c: header.index(c) for c in columns}
        out = []
        for number, row in enumerate(rows, start=2):
            if all(v is None for v in row):
                continue
            out.append((f"sheet {sheet!r} row {number}",
                        {name: row[col] if isinstance(row[col], str) else str(row[col]) for name, col in index.items()}))
        return out
    finally:
        workbook.close()


def calamine_rows(path: Path, sheet: str, columns=COLUMNS) -> list[tuple[str, dict[str, str]]]:
    records = read_xlsx(path, sheet, columns)
    return list(zip(records.wheres, records))


def write_book(path: Path, rows, header=COLUMNS) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "QS"
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return path


def test_bundled_meqsum_reads_alike():
    assert calamine_rows(MEQSUM, "QS") == openpyxl_rows(MEQSUM, "QS")
    assert len(read_xlsx(MEQSUM, "QS", COLUMNS)) > 3


def test_numbers_dates_and_booleans_print_as_openpyxls_values(tmp_path):
    rows = [(12479, 1.5, True), (12479.0, -3, False), (datetime.datetime(2020, 1, 2, 3, 4, 5), datetime.date(2020, 1, 2), 1e20),
            ("z", 123456789012345678, 2.0 ** 53), (0.1, -0.0, 7e-9), (" a\u00a0\n", "SUBJECT: x\nMESSAGE: y", "é ✓")]
    path = write_book(tmp_path / "types.xlsx", rows)
    assert calamine_rows(path, "QS") == openpyxl_rows(path, "QS")
    assert read_xlsx(path, "QS", COLUMNS)[0] == {"File": "12479", "CHQ": "1.5", "Summary": "True"}


def test_empty_rows_are_skipped_and_rows_keep_the_sheets_numbers(tmp_path):
    path = write_book(tmp_path / "gaps.xlsx", [("a", "q", "s"), (None, None, None), ("b", "q", "s")])
    assert [where for where, _ in calamine_rows(path, "QS")] == ["sheet 'QS' row 2", "sheet 'QS' row 4"]


def test_an_empty_cell_names_its_row_and_column(tmp_path):
    path = write_book(tmp_path / "hole.xlsx", [("a", "q", "s"), ("b", None, "s")])
    with pytest.raises(DataError, match=r"sheet 'QS' row 3: empty cell in column 'CHQ'"):
        read_xlsx(path, "QS", COLUMNS)


def test_a_missing_sheet_and_a_non_workbook_are_data_errors(tmp_path):
    path = write_book(tmp_path / "book.xlsx", [("a", "q", "s")])
    with pytest.raises(DataError, match=r"worksheet 'Other' not found \(sheets: QS\)"):
        read_xlsx(path, "Other", COLUMNS)
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"File,CHQ,Summary\n1.txt,caf\xe9,x\n")
    with pytest.raises(DataError, match="not a readable xlsx workbook"):
        read_xlsx(bad, "QS", COLUMNS)


# openpyxl refuses control characters in cells; surrogates cannot be written as XML; "=..." is a formula.
cell_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(
    lambda text: not text.startswith("="))
cell = st.one_of(cell_text, st.integers(-10 ** 12, 10 ** 12),
                 st.floats(allow_nan=False, allow_infinity=False, width=64), st.booleans())


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(cell, cell, cell), min_size=1, max_size=12))
def test_any_workbook_reads_alike(tmp_path, rows):
    path = write_book(tmp_path / "any.xlsx", rows)
    assert calamine_rows(path, "QS") == openpyxl_rows(path, "QS")
