"""A slow reader's records are kept by the file's content: a second run on the same bytes skips the parser."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clue_checks.data.errors import DataError
from clue_checks.data.parsed_cache import ParsedCache
from clue_checks.data.readers import Records

MEQSUM = "MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
FIXTURES = Path(__file__).resolve().parent.parent / "clue_checks" / "fixtures"


class CountingReader:
    def __init__(self, records: Records) -> None:
        self.records, self.calls = records, 0

    def __call__(self) -> Records:
        self.calls += 1
        return Records(self.records, self.records.wheres)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "book.xlsx"
    path.parent.mkdir()
    path.write_bytes(b"version 1")
    return path


def rows() -> Records:
    return Records([{"File": "1-a", "CHQ": "What is é?\n"}, {"File": "1-b", "CHQ": "x"}], ["row 2", "row 3"])


def test_the_second_read_of_the_same_bytes_comes_from_the_copy(tmp_path, data_file):
    cache = ParsedCache(lambda: tmp_path / "cache")
    (tmp_path / "cache").mkdir()
    read = CountingReader(rows())
    first = cache.records(data_file, "xlsx", ("QS",), read)
    second = cache.records(data_file, "xlsx", ("QS",), read)
    assert read.calls == 1
    assert second == first == rows() and second.wheres == first.wheres == rows().wheres


def test_a_changed_file_or_other_arguments_are_read_anew_and_the_old_copy_goes(tmp_path, data_file):
    folder = tmp_path / "cache"
    folder.mkdir()
    cache = ParsedCache(lambda: folder)
    read = CountingReader(rows())
    cache.records(data_file, "xlsx", ("QS",), read)
    cache.records(data_file, "xlsx", ("Other sheet",), read)
    assert read.calls == 2
    data_file.write_bytes(b"version 2")
    cache.records(data_file, "xlsx", ("QS",), read)
    assert read.calls == 3
    assert len(list(folder.iterdir())) == 1  # copies of the file's earlier versions are removed


def test_the_same_name_in_another_folder_keeps_its_own_copy(tmp_path, data_file):
    folder = tmp_path / "cache"
    folder.mkdir()
    cache = ParsedCache(lambda: folder)
    other = tmp_path / "real" / data_file.name
    other.parent.mkdir()
    other.write_bytes(b"the real one")
    read = CountingReader(rows())
    for path in (data_file, other, data_file, other):
        cache.records(path, "xlsx", ("QS",), read)
    assert read.calls == 2


@pytest.mark.parametrize("damage", [b"", b"{not json", b'{"format": 1}', b'{"format": 99, "records": [], "wheres": []}',
                                    b'{"format": 1, "records": [{"File": 1}], "wheres": ["row 2"]}',
                                    b'{"format": 1, "records": [{"File": "1"}], "wheres": []}', b"\xff\xfe"])
def test_a_damaged_copy_is_read_anew_and_replaced(tmp_path, data_file, damage):
    folder = tmp_path / "cache"
    folder.mkdir()
    cache = ParsedCache(lambda: folder)
    read = CountingReader(rows())
    cache.records(data_file, "xlsx", ("QS",), read)
    [copy] = folder.iterdir()
    copy.write_bytes(damage)
    assert cache.records(data_file, "xlsx", ("QS",), read) == rows()
    assert read.calls == 2
    assert json.loads(copy.read_text(encoding="utf-8"))["records"] == list(rows())


def test_a_folder_that_cannot_be_made_costs_only_the_shortcut(tmp_path, data_file):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the folder belongs")

    def folder() -> Path:
        (blocker / "d").mkdir(parents=True)
        return blocker / "d"

    read = CountingReader(rows())
    assert ParsedCache(folder).records(data_file, "xlsx", ("QS",), read) == rows()
    assert ParsedCache(lambda: blocker).records(data_file, "xlsx", ("QS",), read) == rows()  # a file, not a folder
    assert read.calls == 2


def test_errors_are_the_readers_own_and_are_not_kept(tmp_path, data_file):
    folder = tmp_path / "cache"
    folder.mkdir()
    cache = ParsedCache(lambda: folder)

    def bad() -> Records:
        raise DataError(data_file, "empty cell in column 'CHQ'", where="sheet 'QS' row 4")

    for _ in range(2):
        with pytest.raises(DataError, match="row 4"):
            cache.records(data_file, "xlsx", ("QS",), bad)
    missing = tmp_path / "data" / "missing.xlsx"
    with pytest.raises(DataError, match="not found"):
        cache.records(missing, "xlsx", ("QS",), lambda: (_ for _ in ()).throw(DataError(missing, "data file not found")))
    assert list(folder.iterdir()) == []


def test_without_a_folder_nothing_is_kept(data_file):
    read = CountingReader(rows())
    cache = ParsedCache()
    cache.records(data_file, "xlsx", ("QS",), read)
    cache.records(data_file, "xlsx", ("QS",), read)
    assert read.calls == 2


text = st.text(st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(text, text, max_size=4), max_size=6))
def test_any_text_records_come_back_exactly(tmp_path_factory, records):
    folder = tmp_path_factory.mktemp("cache")
    path = folder / "book.xlsx"
    path.write_bytes(json.dumps(records).encode())
    original = Records(records, [f"row {i}" for i in range(2, len(records) + 2)])
    cache = ParsedCache(lambda: folder)
    cache.records(path, "xlsx", ("QS",), lambda: original)
    again = cache.records(path, "xlsx", ("QS",), lambda: pytest.fail("read again"))
    assert again == original and again.wheres == original.wheres
    assert [list(r) for r in again] == [list(r) for r in original]  # column order too


def test_meqsum_from_the_copy_needs_no_workbook_parser(tmp_path):
    code = f"""
import sys
from pathlib import Path
from clue_checks.data.parsed_cache import ParsedCache
from clue_checks.tasks import TASKS, get_profile
task = TASKS["meqsum"](get_profile("paper"), data_cache=ParsedCache(lambda: Path({str(tmp_path)!r})))
loaded = task.load(Path({str(FIXTURES)!r}))
print("openpyxl" in sys.modules, len(loaded.samples), loaded.samples[0].record)
"""
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    first, second = (run.split(" ", 1) for run in runs)
    assert first[0] == "True" and second[0] == "False"  # the second run never imported openpyxl
    assert first[1] == second[1]  # the same samples, the same records
