"""MeDiSumCode: ICD-10 extraction, CLUE's EM/AP/VALID metrics, near misses, reader, prompt, verdict (docs/clue-faithfulness.md#medisumcode)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clue_checks.data.errors import DataError
from clue_checks.metrics import icd10
from clue_checks.metrics.icd10 import (approximate_match, dotted, exact_match, extract_codes, invalid_codes,
                                       is_valid_code, near_misses, valid_rate)
from clue_checks.rendering_specs import rendering_spec
from clue_checks.tasks import get_profile
from clue_checks.tasks.base import Sample, clue_prompts
from clue_checks.tasks.medisumcode import MeDiSumCode

PAPER = get_profile("paper")
HEAD = get_profile("head")


def note(i: int, codes=("E119", "I10")) -> dict:
    return {"hadm_id": str(20000000 + i), "text": f"Discharge letter {i}.",
            "icd_codes": [{"code": c, "description": f"desc {c}"} for c in codes]}


def write_data(root: Path, records: list, jsonl: bool = False) -> Path:
    path = root / "MeDiSumCode" / "MeDiSumCode.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(json.dumps(r) for r in records) + "\n" if jsonl else json.dumps(records)
    path.write_text(text, encoding="utf-8")
    return path


def sample(reference: str) -> Sample:
    return Sample("medisumcode", "1", {"codes": reference}, reference)


# -- extraction (CLUE's regex, then dots removed) ----------------------------------------------


@pytest.mark.parametrize("text,codes", [
    ("E11.9, I10, Z79.4", ["E119", "I10", "Z794"]),
    ("E119 I10", ["E119", "I10"]),                          # dot optional
    ("e11.9 i10", []),                                      # upper case only
    ("U07.1 U071", []),                                     # U excluded
    ("A15.0a", ["A15"]),                                    # lower-case suffix is not part of the code
    ("S72.001A", ["S72001A"]),                              # 4 suffix characters
    ("E11.6", ["E116"]), ("E11.65", ["E1165"]), ("E11.654", ["E11654"]),  # 1–3 suffix characters
    ("E11.65432", ["E11"]),                                 # 5 characters: only the category has a boundary
    ("E1165432", []),                                       # no boundary anywhere
    ("E11.", ["E11"]), ("E11.9.", ["E119"]),
    ("vitamin B12 deficiency", ["B12"]),                    # CLUE captures it too
    ("ICD-10 Codes: ", []),                                 # the echoed prefix holds no code
    ("E119, E119, I10", ["E119", "E119", "I10"]),          # duplicates and order kept
    ("XE119 E1", []),                                       # needs a word boundary and two digits
    ("Z79.4,E78.5;I25.10", ["Z794", "E785", "I2510"]),
])
def test_extract_codes(text, codes):
    assert extract_codes(text) == codes


# -- exact / approximate match -----------------------------------------------------------------


def test_exact_match_counts_predicted_duplicates():
    p, r, f = exact_match(["E119", "E119", "I10"], ["E119"])
    assert p == pytest.approx(2 / 3) and r == 1.0 and f == pytest.approx(2 * (2 / 3) / (2 / 3 + 1))


def test_exact_match_recall_and_misses():
    assert exact_match(["E119", "J449"], ["E119", "I10", "Z794", "E785"]) == (0.5, 0.25, pytest.approx(1 / 3))
    assert exact_match(["E1166"], ["E1165"]) == (0.0, 0.0, 0.0)


def test_empty_prediction_scores_zero_and_empty_gold_is_one_blank_code():
    assert exact_match([], ["E119"]) == (0.0, 0.0, 0.0)
    gold = "".split(", ")  # CLUE's split of an empty GT string
    assert gold == [""] and exact_match(["E119"], gold) == (0.0, 0.0, 0.0)
    assert exact_match(["E119"], []) == (0.0, 0.0, 0.0)


def test_approximate_match_uses_sets_of_categories():
    # pred categories {E11, I10}; gold categories {E11, Z79}
    assert approximate_match(["E1166", "E1165", "E119", "I10"], ["E1165", "Z794"]) == (0.5, 0.5, 0.5)
    assert approximate_match(["E119", "E119"], ["E1165"]) == (1.0, 1.0, 1.0)  # duplicates collapse
    assert approximate_match([], ["E119"]) == (0.0, 0.0, 0.0)


# -- VALID CODES with the real ICD-10-CM table -------------------------------------------------


@pytest.mark.parametrize("code,valid", [
    ("E119", True), ("E11", True), ("E1165", True), ("I10", True), ("Z794", True),
    ("S72001A", True),   # generated 7th-character code
    ("S72001", True),    # subcategory header, as CLUE's table had
    ("B99", True),       # a single-category block is also a category
    ("E1199", False), ("B12", False), ("E11.9", True), ("e119", False),
    ("4", False), ("E08-E13", False),  # chapter and block: not codes
])
def test_is_valid_code(code, valid):
    assert is_valid_code(code) is valid


def test_valid_rate_and_invalid_codes():
    pred = ["E119", "E1199", "B12", "E119"]
    assert valid_rate(pred) == 0.5
    assert invalid_codes(pred) == ["E1199", "B12"]
    assert valid_rate([]) == 0.0  # CLUE: nothing predicted scores 0, not 1
    assert invalid_codes([]) == []


def test_without_the_table_valid_rate_is_not_computed(monkeypatch):
    monkeypatch.setattr(icd10, "_table", lambda: None)
    assert valid_rate(["E119"]) is None and invalid_codes(["E1199"]) == []
    result = MeDiSumCode(PAPER).score(sample("E119"), "E11.9", {})
    assert result.metrics["valid_codes"] is None and "valid_codes" in result.not_computed and result.passed


# -- near misses -------------------------------------------------------------------------------


def test_near_misses_same_category_and_length_only():
    gold = ["E1165", "I10", "S72001A"]
    pred = ["E1166", "E1164", "E1165", "E11", "E116", "I10", "I11", "S72002A", "E1166"]
    assert near_misses(pred, gold) == [("E1166", "E1165"), ("E1164", "E1165"), ("S72002A", "S72001A")]


def test_a_near_miss_pairs_with_every_gold_neighbour():
    assert near_misses(["E1164"], ["E1165", "E1169", "E119"]) == [("E1164", "E1165"), ("E1164", "E1169")]
    assert near_misses([], ["E1165"]) == [] and near_misses(["E1165"], ["E1165"]) == []


def test_a_different_subcode_is_not_called_counted_up():
    # Was labelled "digits counted up": only the gold code with its last digit raised is a count.
    result = MeDiSumCode(PAPER).score(sample("E1010"), "E10.65", {})
    assert "E10.65 predicted for gold E10.10 (another code of the category)" in result.reason
    assert "counted" not in result.reason


def test_dotted():
    assert dotted("E1165") == "E11.65" and dotted("I10") == "I10"


# -- properties --------------------------------------------------------------------------------

CODES = st.sampled_from(["E119", "E1165", "E1166", "I10", "Z794", "E785", "J449", "", "B12", "S72001A"])
TEXT = st.text(alphabet=st.sampled_from(list("ETUZIB0123456789.,; -aex\n")), max_size=60)


@given(st.lists(CODES, max_size=8), st.lists(CODES, max_size=8))
def test_prf_bounds_and_zero_f(pred, gold):
    for p, r, f in (exact_match(pred, gold), approximate_match(pred, gold)):
        assert all(0.0 <= v <= 1.0 for v in (p, r, f))
        assert (f == 0.0) == (p == 0.0 or r == 0.0)
        assert min(p, r) <= f + 1e-12 and f <= max(p, r) + 1e-12


@given(st.one_of(TEXT, st.text(max_size=60)))
def test_extracted_codes_are_undotted_and_never_u(text):
    for code in extract_codes(text):
        assert "." not in code and not code.startswith("U") and 3 <= len(code) <= 7 and code[0].isupper()


@given(st.lists(CODES.filter(bool), max_size=8))
def test_valid_rate_agrees_with_invalid_codes(pred):
    rate = valid_rate(pred)
    assert rate == pytest.approx(1 - len(invalid_codes(pred)) / len(pred) if pred else 0.0)


# -- reader ------------------------------------------------------------------------------------


@pytest.mark.parametrize("jsonl", [False, True], ids=["array", "jsonl"])
def test_array_and_jsonl_both_load(tmp_path, jsonl):
    write_data(tmp_path, [note(i) for i in range(3)], jsonl=jsonl)
    loaded = MeDiSumCode(PAPER).load(tmp_path)
    assert [s.id for s in loaded.shots] == ["20000000"]  # paper: the first record
    assert [s.test_id for s in loaded.samples] == ["medisumcode:20000001", "medisumcode:20000002"]
    assert loaded.samples[0].reference == "E119, I10"


def test_head_shot_is_record_376_of_500(tmp_path):
    write_data(tmp_path, [note(i) for i in range(500)], jsonl=True)
    loaded = MeDiSumCode(HEAD).load(tmp_path)
    assert [s.id for s in loaded.shots] == [str(20000000 + 376)] and len(loaded.samples) == 499


def test_integer_hadm_id_and_empty_code_list(tmp_path):
    write_data(tmp_path, [{"hadm_id": 7, "text": "t", "icd_codes": []}, note(1)])
    loaded = MeDiSumCode(PAPER).load(tmp_path)
    assert loaded.shots[0].id == "7" and loaded.shots[0].reference == ""


def test_dotted_gold_codes_are_kept(tmp_path):
    write_data(tmp_path, [note(0), note(1, ("E11.9",))])
    loaded = MeDiSumCode(PAPER).load(tmp_path)
    assert loaded.samples[0].reference == "E11.9"


@pytest.mark.parametrize("record,where,problem", [
    ({"text": "t", "icd_codes": []}, "record 2", "missing field 'hadm_id'"),
    ({"hadm_id": "9", "icd_codes": []}, "record 2", "missing field 'text'"),
    ({"hadm_id": "9", "text": "t"}, "record 2", "missing field 'icd_codes'"),
    ({"hadm_id": None, "text": "t", "icd_codes": []}, "record 2", "'hadm_id' must be text or an integer"),
    ({"hadm_id": "9", "text": 3, "icd_codes": []}, "record 2 (hadm_id 9)", "'text' must be text"),
    ({"hadm_id": "9", "text": "t", "icd_codes": "E119"}, "record 2 (hadm_id 9)", "'icd_codes' must be a list"),
    ({"hadm_id": "9", "text": "t", "icd_codes": ["E119"]}, "record 2 (hadm_id 9)", "'icd_codes[0]' must be an object"),
    ({"hadm_id": "9", "text": "t", "icd_codes": [{"code": "I10"}, {"description": "x"}]}, "record 2 (hadm_id 9)",
     "missing field 'icd_codes[1].code'"),
    ({"hadm_id": "9", "text": "t", "icd_codes": [{"code": 250}]}, "record 2 (hadm_id 9)",
     "'icd_codes[0].code' must be text, got int"),
])
def test_bad_records_name_record_and_field(tmp_path, record, where, problem):
    path = write_data(tmp_path, [note(0), record])
    with pytest.raises(DataError) as info:
        MeDiSumCode(PAPER).load(tmp_path)
    assert info.value.path == path and info.value.where == where and problem in info.value.problem


def test_empty_file_and_duplicate_ids_are_errors(tmp_path):
    write_data(tmp_path, [])
    with pytest.raises(DataError, match="no records"):
        MeDiSumCode(PAPER).load(tmp_path)
    write_data(tmp_path, [note(0), note(0)])
    with pytest.raises(DataError, match="duplicate hadm_id"):
        MeDiSumCode(PAPER).load(tmp_path)


# -- prompt ------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile,prefix,tokens,reserve", [(PAPER, "ICD-10 Codes: ", 200, 200), (HEAD, "", 512, None)])
def test_prompt_layout(tmp_path, profile, prefix, tokens, reserve):
    write_data(tmp_path, [note(i, ("E119", "I10", "Z794")) for i in range(3)])
    task = MeDiSumCode(profile)
    loaded = task.load(tmp_path)
    prompt = task.prompt(loaded.samples[0], loaded.shots)
    texts = clue_prompts()["medisumcode"]
    assert [m.role for m in prompt.messages] == ["system", "user", "assistant", "user"]
    assert prompt.messages[0].content == texts["system"]
    assert prompt.messages[1].content == texts["user"].format(text=loaded.shots[0].record["text"])
    assert prompt.messages[1].content.startswith("--------------BEGIN DISCHARGE LETTER--------------\n")
    assert prompt.messages[2].content == "ICD-10 Codes: E119, I10, Z794"
    assert prompt.messages[3].content == texts["user"].format(text=loaded.samples[0].record["text"])
    assert (prompt.assistant_prefix, prompt.max_new_tokens, rendering_spec(task).truncate_reserve) == (prefix, tokens, reserve)


# -- score and verdict -------------------------------------------------------------------------


def test_score_metrics_and_details():
    result = MeDiSumCode(PAPER).score(sample("E1165, I10, Z794"), "E11.66, E11.66, I10, E11.99", {})
    m = result.metrics
    assert list(m) == list(MeDiSumCode.metric_names)
    assert (m["icd_em_p"], m["icd_em_r"]) == (0.25, pytest.approx(1 / 3))
    assert (m["icd_ap_p"], m["icd_ap_r"]) == (1.0, pytest.approx(2 / 3))
    assert m["valid_codes"] == 0.25  # E11.66 does not exist: "counting up" invents codes
    assert result.passed and "1 of 3 gold codes" in result.reason
    assert result.details == {"predicted": ["E1166", "E1166", "I10", "E1199"], "gold": ["E1165", "I10", "Z794"],
                              "invalid": ["E1166", "E1199"], "near_misses": [["E1166", "E1165"], ["E1199", "E1165"]]}


def test_failure_names_near_misses_and_invalid_codes():
    result = MeDiSumCode(PAPER).score(sample("E1165, I10"), "E11.66, E11.64, I11.0, B12", {})
    assert not result.passed
    assert "exact-match F1 0" in result.reason
    assert "E11.66 predicted for gold E11.65 (last digit counted up)" in result.reason
    assert "E11.64 predicted for gold E11.65 (last digit counted down)" in result.reason
    assert "typical coding failure" in result.reason
    assert "not in ICD-10-CM: E11.66, B12" in result.reason


def test_empty_response_and_empty_gold():
    task = MeDiSumCode(PAPER)
    result = task.score(sample("E119"), "  ", {})
    assert not result.passed and "(empty response)" in result.reason
    assert result.metrics["valid_codes"] == 0.0 and result.metrics["icd_em_p"] == 0.0
    result = task.score(sample(""), "E11.9", {})
    assert not result.passed and "no gold codes" in result.reason


def test_configured_floors_replace_the_default_rule():
    task = MeDiSumCode(PAPER)
    near = "E11.66, I11"  # EM F1 0, AP F1 0.5 (E11 right, I11 wrong)
    assert not task.score(sample("E1165, I10"), near, {}).passed
    result = task.score(sample("E1165, I10"), near, {"icd_ap_f1": 0.5})
    assert result.passed and "icd_ap_f1 0.500 >= floor 0.5" in result.reason
    result = task.score(sample("E1165, I10"), "E11.65, B12", {"icd_em_f1": 0.1, "valid_codes": 0.9})
    assert not result.passed and "valid_codes 0.500 < floor 0.9" in result.reason and "icd_em_f1" not in result.reason
    assert task.score(sample("E119"), "E11.9", {"rougeL": 0.9}).passed  # other tasks' metric names are ignored


@pytest.mark.slow
def test_icd_table_is_imported_lazily():
    code = ("import sys, clue_checks.tasks.medisumcode; assert 'simple_icd_10_cm' not in sys.modules; "
            "from clue_checks.metrics.icd10 import valid_rate; valid_rate(['E119']); "
            "assert 'simple_icd_10_cm' in sys.modules")
    subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c", code], check=True)


def test_jsonl_errors_name_the_line(tmp_path):
    path = tmp_path / "MeDiSumCode" / "MeDiSumCode.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(note(0)) + "\n\n" + json.dumps({"hadm_id": "9", "text": 3, "icd_codes": []}) + "\n")
    with pytest.raises(DataError) as info:
        MeDiSumCode(PAPER).load(tmp_path)
    assert info.value.where == "line 3 (hadm_id 9)" and "'text' must be text" in info.value.problem


def test_duplicate_hadm_id_names_where_the_duplicate_is(tmp_path):
    write_data(tmp_path, [note(0), note(1), note(0)], jsonl=True)
    with pytest.raises(DataError, match=r"line 3: duplicate hadm_id '20000000'"):
        MeDiSumCode(PAPER).load(tmp_path)


@pytest.mark.parametrize("jsonl", [False, True])
def test_non_utf8_byte_names_file_and_line(tmp_path, jsonl):
    path = write_data(tmp_path, [note(0), note(1)], jsonl=jsonl)
    text = path.read_bytes()
    if not jsonl:  # one record per line, so the line is worth naming
        text = text.replace(b"}]}, {", b"}]},\n{")
    path.write_bytes(text.replace(b"Discharge letter 1.", b"Discharge l\xe8tter 1."))  # Latin-1, on line 2
    with pytest.raises(DataError) as info:
        MeDiSumCode(PAPER).load(tmp_path)
    assert info.value.where == "line 2" and "MeDiSumCode.json, line 2: not UTF-8 text: byte 0xe8" in str(info.value)
