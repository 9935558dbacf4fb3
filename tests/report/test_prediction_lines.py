"""Prediction files read back: a line ends at "\\n" only, and every reader names a damaged file and line alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clue_checks.report.write import html
from clue_checks.record import SampleRecord
from clue_checks.report.prediction_lines import PredictionLineError, prediction_rows
from clue_checks.report.build import RunFacts, build_report
from clue_checks.report.numbers.aggregate import TaskSpec
from clue_checks.report.write.pieces import read_predictions
from clue_checks.report.write.folder import write_files
from clue_checks.report.run_dir import RunDirError, load_run_dir
from clue_checks.roles.kind_selection import read_selection

# Characters that str.splitlines() ends a line at and that json.dumps(ensure_ascii=False) leaves as they are.
SEPARATORS = "\u2028\u2029\x85"


def record(i: int, response: str) -> SampleRecord:
    return SampleRecord(task="meqsum", sample_id=f"s{i}", index=i, outcome="failed", metrics={"rougeL": 0.1},
                        reason="ROUGE-L 0.1 < floor 0.2", response=response, reference="what is the dose?",
                        kinds=("low_overlap",), prompt=f"[user] question {i}")


def written(folder: Path, responses: list[str]) -> Path:
    """A report folder as a run writes it."""
    records = [record(i, text) for i, text in enumerate(responses)]
    facts = RunFacts(run={"model_id": "m"}, manifest={}, specs=(TaskSpec("meqsum", "MeQSum", 1, ("rougeL",)),))
    write_files(folder, build_report(records, facts))
    return folder


def test_a_reply_holding_line_separators_is_read_back_whole_by_every_reader(tmp_path):
    replies = ["the dose\u2028is 5 mg", "para one\u2029para two", "next\x85line", "plain"]
    folder = written(tmp_path, replies)
    assert "\u2028" in (folder / "predictions" / "meqsum.jsonl").read_text(encoding="utf-8")  # kept, not escaped

    assert [r.response for r in read_predictions(folder)["meqsum"]] == replies  # clue report merge
    assert [r.response for r in load_run_dir(folder).records] == replies  # --clue-baseline, clue compare
    assert [row["response"] for row in html.load_rows(folder)] == replies  # the page
    assert read_selection(folder, ("low_overlap",)).ids == {f"meqsum:s{i}" for i in range(4)}  # --clue-kind


# Any text a row can hold (a lone surrogate never reaches a prediction file: responses keep it as an escape).
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)) | st.sampled_from(SEPARATORS + "\r\n"))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.dictionaries(TEXT, st.one_of(TEXT, st.integers(), st.none(), st.lists(TEXT, max_size=3)),
                                max_size=4), max_size=6))
def test_rows_written_as_a_run_writes_them_read_back_equal(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("rows") / "task.jsonl"
    with path.open("w", encoding="utf-8") as handle:  # as write/folder.py writes them
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    assert [row for _, row in prediction_rows(path)] == rows


def test_blank_lines_are_skipped_and_lines_keep_their_numbers(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"a": 1}\n\n  \r\n{"b": 2}\r\n')
    assert list(prediction_rows(path)) == [(1, {"a": 1}), (4, {"b": 2})]


@pytest.mark.parametrize("content, message", [
    (b'{"id": "a"}\n{"id": "cut sh', r"t\.jsonl, line 2: not a JSON object \(Unterminated string.*rerun it"),
    (b'{"id": "a"}\n["a", "list"]\n', r"t\.jsonl, line 2: expected a JSON object, got list"),
    (b'{"id": "a"}\n\n{"id": "caf\xe9"}\n', r"t\.jsonl, line 3: not UTF-8 text \(byte 0xe9 at byte 12\)"),
])
def test_a_damaged_line_is_named_with_its_file_and_number(tmp_path, content, message):
    path = tmp_path / "t.jsonl"
    path.write_bytes(content)
    with pytest.raises(PredictionLineError, match=message):
        list(prediction_rows(path))


def test_an_unreadable_file_is_named(tmp_path):
    with pytest.raises(PredictionLineError, match=r"missing\.jsonl: cannot read it"):
        list(prediction_rows(tmp_path / "missing.jsonl"))


def test_each_reader_gives_the_same_words_in_its_own_error(tmp_path):
    folder = written(tmp_path, ["fine"])
    path = folder / "predictions" / "meqsum.jsonl"
    path.write_text(path.read_text(encoding="utf-8") + '{"id": "cut sh', encoding="utf-8")
    words = "meqsum.jsonl, line 2: not a JSON object"
    for read, error in ((read_predictions, ValueError), (load_run_dir, RunDirError),
                        (html.write_html, html.ReportDirError),
                        (lambda d: read_selection(d, ("low_overlap",)), pytest.UsageError)):
        with pytest.raises(error) as info:
            read(folder)
        assert words in str(info.value), (read, str(info.value))
