"""Problem Summary and MeDiSumQA readers, cleaning and prompts (docs/clue-faithfulness.md#problem-summary, #medisumqa)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clue_checks.data.errors import DataError
from clue_checks.tasks import get_profile
from clue_checks.tasks.medisumqa import MeDiSumQA
from clue_checks.tasks.problemsummary import ProblemSummary, clue_summary_cleaning

PAPER, HEAD = get_profile("paper"), get_profile("head")


def write_csv(root: Path, header: list[str], rows: list[list[str]]) -> Path:
    path = root / "ProblemSummary" / "BioNLP2023-1A-Test.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def note(i: int, summary: str = "Sepsis; AKI;") -> list[str]:
    return [f"{i}.txt", f"Assessment {i}", f"Subjective\nline {i}", "Objective", summary]


def test_probsum_semicolons_become_comma_space_as_clue_did():
    assert clue_summary_cleaning("a; b;") == "a,  b, "  # double space and trailing comma, as CLUE scored
    assert clue_summary_cleaning("Sepsis") == "Sepsis"


@given(st.text())
def test_probsum_cleaning_removes_every_semicolon_and_nothing_else(text):
    cleaned = clue_summary_cleaning(text)
    assert ";" not in cleaned
    assert len(cleaned) == len(text) + text.count(";")
    assert cleaned.split(", ") == ", ".join(text.split(";")).split(", ")


def test_probsum_reads_the_training_style_header(tmp_path):
    write_csv(tmp_path, ["File ID", "Assessment", "Subjective Sections", "Objective Sections", "Summary"],
              [note(i) for i in range(5)])
    task = ProblemSummary(PAPER)
    loaded = task.load(tmp_path)
    assert [s.id for s in loaded.shots] == ["0.txt", "1.txt", "2.txt"]
    sample = loaded.samples[0]
    assert sample.id == "3.txt" and sample.reference == "Sepsis,  AKI, "
    prompt = task.prompt(sample, loaded.shots)
    assert prompt.messages[-1].content.startswith("--------------BEGIN DISCHARGE LETTER--------------\nSubjective\nline 3"
                                                  "\n\nAssessment 3\n")
    assert prompt.assistant_prefix == "Diagnoses/Patient problems: " and prompt.max_new_tokens == 100
    assert prompt.messages[2].content == "Diagnoses/Patient problems: Sepsis,  AKI, "


def test_probsum_reads_clue_template_names_and_numbers_rows_without_ids(tmp_path):
    write_csv(tmp_path, ["Subjectives", "Assessment", "Summary"], [[f"s{i}", f"a{i}", "x"] for i in range(4)])
    loaded = ProblemSummary(HEAD).load(tmp_path)
    assert len(loaded.samples) == 1  # no id column: numbered by row
    assert sorted(s.id for s in (*loaded.shots, *loaded.samples)) == ["1", "2", "3", "4"]


def test_probsum_missing_column_names_the_columns_found(tmp_path):
    write_csv(tmp_path, ["File ID", "Assessment", "Plan", "Summary"], [note(0)[:4]])
    with pytest.raises(DataError, match=r"no column for 'Subjectives'.*columns found: File ID, Assessment, Plan, Summary"):
        ProblemSummary(PAPER).load(tmp_path)


def write_qa(root: Path, records: list[dict], jsonl: bool = False) -> Path:
    path = root / "MeDiSumQA" / "MeDiSumQA.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(json.dumps(r) for r in records) if jsonl else json.dumps(records)
    path.write_text(text, encoding="utf-8")
    return path


def qa(i: int, note: str = "n1", key: str = "discharge_summary") -> dict:
    return {"note_id": note, key: f"Letter {note}.", "Question": f"Why {i}?", "Answer": f"Because {i}."}


@pytest.mark.parametrize("jsonl", [False, True])
@pytest.mark.parametrize("key", ["discharge_summary", "without_discharge_summary", "without_summary"])
def test_medisumqa_accepts_field_variants_and_jsonl(tmp_path, jsonl, key):
    write_qa(tmp_path, [qa(i, key=key) for i in range(4)], jsonl=jsonl)
    loaded = MeDiSumQA(PAPER).load(tmp_path)
    assert len(loaded.shots) == 1 and len(loaded.samples) == 3
    assert all(s.record["discharge_summary"] == "Letter n1." for s in loaded.samples)


def test_medisumqa_ids_number_the_questions_of_a_note_and_shots_use_seed_1(tmp_path):
    write_qa(tmp_path, [qa(0, "a"), qa(1, "a"), qa(2, "b"), qa(3, "a")])
    loaded = MeDiSumQA(PAPER).load(tmp_path)
    ids = sorted(s.id for s in (*loaded.shots, *loaded.samples))
    assert ids == ["a/q1", "a/q2", "a/q3", "b/q1"]
    import random

    order = list(range(4))
    random.Random(1).shuffle(order)
    assert loaded.shots[0].record["Question"] == f"Why {order[0]}?"  # CLUE shuffled MeDiSumQA in both eras


def test_medisumqa_prompt_per_profile(tmp_path):
    write_qa(tmp_path, [qa(i) for i in range(3)])
    for profile, last_line, prefix in ((PAPER, "Question: Why", "Answer: "), (HEAD, "Why", "")):
        task = MeDiSumQA(profile)
        loaded = task.load(tmp_path)
        prompt = task.prompt(loaded.samples[0], loaded.shots)
        assert prompt.messages[-1].content.splitlines()[-1].startswith(last_line)
        assert prompt.assistant_prefix == prefix


def test_medisumqa_missing_field_names_record_and_variants(tmp_path):
    write_qa(tmp_path, [qa(0), {"note_id": "x", "Question": "q", "Answer": "a"}])
    with pytest.raises(DataError, match=r"record 2: missing field 'discharge_summary' \(accepted: discharge_summary"):
        MeDiSumQA(PAPER).load(tmp_path)


def test_medisumqa_answers_are_stripped_in_the_paper_profile_only():
    assert MeDiSumQA(PAPER).clean("  Rest at home.\n", "other") == "Rest at home."
    assert MeDiSumQA(HEAD).clean("  Rest at home.\n", "other") == "  Rest at home.\n"


@pytest.mark.parametrize(("raw", "cleaned"), [
    ("Rest at home.  <|end|> junk", "Rest at home. "),  # stripped first: the space before " <|end|>" stays
    ("  <|end|> Rest at home.", "<|end|> Rest at home."),  # stripped first: no " <|end|>" is left to cut at
    ("\nRest at home. <|end|>\n", "Rest at home."),
    ("Rest at home.", "Rest at home."),
])
def test_medisumqa_strips_then_cuts_phi_output_as_clue_did(raw, cleaned):
    assert MeDiSumQA(PAPER).clean(raw, "phi") == cleaned
    assert MeDiSumQA(PAPER).clean(raw, "other") == raw.strip()  # no Phi cut for other families
    assert MeDiSumQA(HEAD).clean(raw, "phi") == raw  # the vLLM-era code cleaned nothing


# -- locations: CSV fields span lines, JSON lines may be blank ---------------------------------


def test_probsum_errors_name_the_line_a_multiline_row_starts_on(tmp_path):
    path = tmp_path / "ProblemSummary" / "BioNLP2023-1A-Test.csv"
    path.parent.mkdir(parents=True)
    path.write_text("File ID,Assessment,Subjective Sections,Objective Sections,Summary\n"
                    '1.txt,"line one\nline two\nline three","s\ns",o,x\n'  # record 1 spans lines 2-5
                    "2.txt,too short\n", encoding="utf-8")  # record 2 starts on line 6
    with pytest.raises(DataError) as info:
        ProblemSummary(PAPER).load(tmp_path)
    assert info.value.where == "line 6" and "no value for 'Subjective Sections'" in info.value.problem


def test_probsum_row_without_its_id_is_an_error_not_a_none_id(tmp_path):
    write_csv(tmp_path, ["Assessment", "Subjective Sections", "Summary", "File ID"],
              [["a", "s", "x", "1.txt"], ["a", "s", "y"], ["a", "s", "z", "3.txt"], ["a", "s", "w", "4.txt"]])
    with pytest.raises(DataError) as info:
        ProblemSummary(PAPER).load(tmp_path)
    assert info.value.where == "line 3" and "id column 'File ID'" in info.value.problem


def test_probsum_duplicate_id_names_its_line(tmp_path):
    rows = [note(0), ["x.txt", "A", 'multi\nline', "O", "S"], note(0)]  # note(): two lines each
    write_csv(tmp_path, ["File ID", "Assessment", "Subjective Sections", "Objective Sections", "Summary"], rows)
    with pytest.raises(DataError, match=r"line 6: duplicate File ID '0.txt'"):
        ProblemSummary(PAPER).load(tmp_path)


cell = st.text(alphabet=st.sampled_from(list('ab ,;"\n')), max_size=12)


@given(st.lists(st.tuples(cell, cell, cell), min_size=1, max_size=6))
def test_csv_reader_round_trips_and_locates_every_record(tmp_path_factory, rows):
    import io

    from clue_checks.data.readers import read_csv

    path = tmp_path_factory.mktemp("csv") / "t.csv"
    header = ["A", "B", "C"]
    pieces, starts, line = [], [], 2
    for row in rows:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(row)
        pieces.append(buffer.getvalue())
        starts.append(f"line {line}")
        line += buffer.getvalue().count("\n")
    path.write_text("A,B,C\n" + "".join(pieces), encoding="utf-8")
    got_header, records = read_csv(path)
    assert got_header == header
    assert records == [dict(zip(header, row)) for row in rows]
    assert records.wheres == starts


def test_medisumqa_jsonl_errors_name_the_line(tmp_path):
    path = tmp_path / "MeDiSumQA" / "MeDiSumQA.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(qa(0)) + "\n\n" + json.dumps({"note_id": "x", "Question": "q", "Answer": "a"}) + "\n")
    with pytest.raises(DataError) as info:
        MeDiSumQA(PAPER).load(tmp_path)
    assert info.value.where == "line 3" and "missing field 'discharge_summary'" in info.value.problem


def test_medisumqa_array_element_is_counted_from_one_like_every_record(tmp_path):
    write_qa(tmp_path, [qa(0), ["not", "an", "object"]])
    with pytest.raises(DataError) as info:
        MeDiSumQA(PAPER).load(tmp_path)
    assert info.value.where == "record 2" and "JSON object" in info.value.problem


def test_probsum_non_utf8_byte_names_file_and_line(tmp_path):
    path = write_csv(tmp_path, ["File ID", "Assessment", "Subjective Sections", "Objective Sections", "Summary"],
                     [note(0), note(1)])  # header on line 1, records on lines 2-3 and 4-5
    path.write_bytes(path.read_bytes().replace(b"line 1", b"l\xefne 1"))  # Latin-1 ï, on line 5
    with pytest.raises(DataError) as info:
        ProblemSummary(PAPER).load(tmp_path)
    assert info.value.path == path and info.value.where == "line 5"
    assert "BioNLP2023-1A-Test.csv, line 5: not UTF-8 text: byte 0xef" in str(info.value)


def test_probsum_byte_order_mark_is_still_accepted(tmp_path):
    path = write_csv(tmp_path, ["File ID", "Assessment", "Subjective Sections", "Objective Sections", "Summary"],
                     [note(i) for i in range(4)])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert [s.id for s in ProblemSummary(PAPER).load(tmp_path).samples] == ["3.txt"]


@pytest.mark.parametrize("jsonl", [False, True])
def test_medisumqa_non_utf8_byte_names_file_and_line(tmp_path, jsonl):
    path = write_qa(tmp_path, [qa(0), qa(1), qa(2)], jsonl=jsonl)
    text = path.read_bytes()
    if not jsonl:  # one record per line, so the line is worth naming
        text = text.replace(b"}, {", b"},\n{")
    path.write_bytes(text.replace(b"Why 2?", b"Why\xa0 2?"))  # a Latin-1 no-break space, on line 3
    with pytest.raises(DataError) as info:
        MeDiSumQA(PAPER).load(tmp_path)
    assert info.value.where == "line 3" and "MeDiSumQA.json, line 3: not UTF-8 text: byte 0xa0" in str(info.value)
