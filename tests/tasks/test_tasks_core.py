"""Readers, shot selection, prompts, MedNLI and MeQSum scoring (docs/clue-faithfulness.md#shots, #mednli, #meqsum)."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clue_checks.data.errors import DataError
from clue_checks.metrics.classification import exactly_once
from clue_checks.metrics.rouge import rouge_f
from clue_checks.tasks import get_profile
from clue_checks.tasks.base import clue_prompts, strip_echoed_prefix
from clue_checks.tasks.mednli import MedNLI
from clue_checks.tasks.meqsum import MeQSum
from clue_checks.tasks.shots import split_shots

PAPER = get_profile("paper")
HEAD = get_profile("head")


def write_mednli(root: Path, lines: list[str]) -> Path:
    path = root / "MedNLI" / "mli_test_v1.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def nli(i: int, label: str = "neutral") -> str:
    return json.dumps({"sentence1": f"Premise {i}.", "sentence2": f"Hypothesis {i}.", "gold_label": label,
                       "pairID": f"p{i}"})


def write_meqsum(root: Path, rows: list[tuple], header=("File", "CHQ", "Summary"), sheet="QS") -> Path:
    path = root / "MeQSum" / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    wb.save(path)
    return path


# -- shots -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n,k,expected", [(1000, 3, [852, 836, 280]), (1422, 3, [360, 544, 1303]),
                                          (237, 3, [168, 87, 179]), (416, 1, [395]), (500, 1, [376])])
def test_seed_1_shuffle_reproduces_clue_shot_positions(n, k, expected):
    shots, scored = split_shots(list(range(n)), k, "shuffle-seed-1")
    assert shots == expected
    assert len(scored) == n - k and not set(shots) & set(scored)


def test_first_k_shots_are_removed_from_the_scored_set():
    shots, scored = split_shots(list("abcdef"), 3, "first")
    assert shots == ["a", "b", "c"] and scored == ["d", "e", "f"]


def test_meqsum_paper_shots_are_the_first_three_rows_in_file_order(tmp_path):
    rows = [("1-131188152.xml.txt", "q1", "s1"), ("14348.txt", "q2", "s2"), ("1-131985747.xml.txt", "q3", "s3"),
            ("16019.txt", "q4", "s4 ")]
    write_meqsum(tmp_path, rows)
    loaded = MeQSum(PAPER).load(tmp_path)
    assert [s.id for s in loaded.shots] == ["1-131188152.xml.txt", "14348.txt", "1-131985747.xml.txt"]
    assert [s.id for s in loaded.samples] == ["16019.txt"]
    assert loaded.samples[0].reference == "s4 "  # whitespace kept, as CLUE did


# -- readers: bad input names file, line/row and field --------------------------------------


def test_missing_data_folder_names_the_folder(tmp_path):
    with pytest.raises(DataError, match="data folder not found") as exc:
        MedNLI(PAPER).load(tmp_path)
    assert "MedNLI" in str(exc.value)


def test_malformed_json_line_names_file_and_line(tmp_path):
    write_mednli(tmp_path, [nli(1), nli(2), '{"sentence1": "x", ', nli(4)])
    with pytest.raises(DataError, match=r"mli_test_v1\.jsonl, line 3: malformed JSON"):
        MedNLI(PAPER).load(tmp_path)


def test_missing_field_names_the_field_and_line(tmp_path):
    bad = json.dumps({"sentence1": "a", "gold_label": "neutral", "pairID": "x"})
    write_mednli(tmp_path, [nli(1), bad])
    with pytest.raises(DataError, match=r"line 2: missing field 'sentence2'"):
        MedNLI(PAPER).load(tmp_path)


def test_unknown_label_is_rejected_with_the_record(tmp_path):
    write_mednli(tmp_path, [nli(1), nli(2, "ENTAILS")])
    with pytest.raises(DataError, match=r"pairID p2.*gold_label"):
        MedNLI(PAPER).load(tmp_path)


def test_duplicate_pair_ids_are_rejected(tmp_path):
    write_mednli(tmp_path, [nli(1), nli(1)])
    with pytest.raises(DataError, match="duplicate pairID"):
        MedNLI(PAPER).load(tmp_path)


def test_meqsum_wrong_columns_are_named(tmp_path):
    write_meqsum(tmp_path, [("a", "b", "c")], header=("File", "Question", "Summary"))
    with pytest.raises(DataError, match=r"missing column\(s\) 'CHQ' \(header has: File, Question, Summary\)"):
        MeQSum(PAPER).load(tmp_path)


def test_meqsum_wrong_sheet_is_named(tmp_path):
    write_meqsum(tmp_path, [("a", "b", "c")], sheet="Sheet1")
    with pytest.raises(DataError, match=r"worksheet 'QS' not found \(sheets: Sheet1\)"):
        MeQSum(PAPER).load(tmp_path)


def test_meqsum_empty_cell_names_the_row(tmp_path):
    write_meqsum(tmp_path, [("a", "b", "c"), ("d", None, "f")])
    with pytest.raises(DataError, match=r"row 3.*'CHQ'|empty cell in column 'CHQ'"):
        MeQSum(PAPER).load(tmp_path)


def test_not_an_xlsx_file(tmp_path):
    path = tmp_path / "MeQSum" / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
    path.parent.mkdir()
    path.write_text("<html>GitHub blob page</html>")
    with pytest.raises(DataError, match="not a readable xlsx"):
        MeQSum(PAPER).load(tmp_path)


# -- prompts ---------------------------------------------------------------------------------


def test_meqsum_paper_prompt_layout_and_prefix(tmp_path):
    rows = [(f"{i}.txt", f"inquiry {i}", f"summary {i}?") for i in range(5)]
    write_meqsum(tmp_path, rows)
    task = MeQSum(PAPER)
    loaded = task.load(tmp_path)
    prompt = task.prompt(loaded.samples[0], loaded.shots)
    texts = clue_prompts()["meqsum"]
    roles = [m.role for m in prompt.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant", "user"]
    assert prompt.messages[0].content == texts["system"]
    assert prompt.messages[2].content == "Question: summary 0?"
    assert prompt.messages[-1].content == texts["user"].format(CHQ="inquiry 3")
    assert prompt.assistant_prefix == "Question: "
    assert prompt.max_new_tokens == 200


def test_meqsum_head_profile_has_no_prefix_and_512_tokens(tmp_path):
    write_meqsum(tmp_path, [(f"{i}.txt", f"q{i}", f"s{i}") for i in range(5)])
    task = MeQSum(HEAD)
    loaded = task.load(tmp_path)
    prompt = task.prompt(loaded.samples[0], loaded.shots)
    assert prompt.assistant_prefix == "" and prompt.max_new_tokens == 512
    assert not any(m.content.startswith("Question: ") for m in prompt.messages if m.role == "assistant")


def test_mednli_prompt_is_verbatim(tmp_path):
    write_mednli(tmp_path, [nli(i, "entailment") for i in range(4)])
    task = MedNLI(PAPER)
    loaded = task.load(tmp_path)
    prompt = task.prompt(loaded.samples[0], loaded.shots)
    assert prompt.messages[-1].content == "\nSENTENCE_1: Premise 3.\nSENTENCE_2: Hypothesis 3.\n"
    assert prompt.messages[2].content == "entailment"  # shots answer with the lowercase label
    assert "recieve" in prompt.messages[0].content  # CLUE's typo is benchmark data
    assert prompt.max_new_tokens == 20 and prompt.assistant_prefix == ""


# -- scoring ---------------------------------------------------------------------------------


@pytest.mark.parametrize("output,label,expected", [
    ("ENTAILMENT", "entailment", 1.0),
    ("entailment", "entailment", 1.0),
    ("The answer is Entailment.", "entailment", 1.0),
    ("entailment entailment", "entailment", 0.0),
    ("NEUTRAL or CONTRADICTION", "contradiction", 1.0),
    ("neutral", "contradiction", 0.0),
    ("", "neutral", 0.0),
])
def test_mednli_exactly_once_rule(output, label, expected):
    assert exactly_once(output, label) == expected


@given(st.text(), st.sampled_from(["entailment", "contradiction", "neutral"]))
def test_exactly_once_matches_its_definition(output, label):
    assert exactly_once(output, label) == (1.0 if output.upper().count(label.upper()) == 1 else 0.0)


@given(st.text(max_size=200), st.text(max_size=200))
def test_rouge_values_are_f_measures_in_unit_interval(prediction, reference):
    scores = rouge_f(prediction, reference)
    assert set(scores) == {"rouge1", "rouge2", "rougeL"}
    assert all(0.0 <= v <= 1.0 for v in scores.values())


def test_rouge_is_unstemmed_and_case_insensitive():
    assert rouge_f("What causes HEADACHES?", "what causes headaches")["rougeL"] == 1.0
    # use_stemmer=False: "headache" and "headaches" are different tokens
    assert rouge_f("headache", "headaches")["rouge1"] == 0.0


def test_meqsum_sample_verdict_uses_the_floor(tmp_path):
    write_meqsum(tmp_path, [(f"{i}.txt", f"q{i}", "What are the side effects of metformin?") for i in range(4)])
    task = MeQSum(PAPER)
    sample = task.load(tmp_path).samples[0]
    good = task.score(sample, "What are the side effects of metformin?", {"rougeL": 0.5})
    bad = task.score(sample, "Tell me about aspirin.", {"rougeL": 0.5})
    assert good.passed and good.metrics["rougeL"] == 1.0
    assert not bad.passed and "< floor 0.5" in bad.reason


def test_summary_floors_apply_to_every_rouge_metric_they_name(tmp_path):
    write_meqsum(tmp_path, [(f"{i}.txt", f"q{i}", "What are the side effects of metformin?") for i in range(4)])
    task = MeQSum(PAPER)
    sample = task.load(tmp_path).samples[0]
    answer = "What are side effects of taking metformin daily?"
    assert task.score(sample, answer, {"rougeL": 0.5}).passed
    strict = task.score(sample, answer, {"rougeL": 0.5, "rouge2": 0.9})
    assert not strict.passed and "rouge2 F" in strict.reason and "< floor 0.9" in strict.reason
    assert "rougeL" not in strict.reason  # only the unmet floor is named
    unset = task.score(sample, "Tell me about aspirin.", {})
    assert unset.passed and "no per-sample floor" in unset.reason
    assert task.floor_metrics == ("rouge1", "rouge2", "rougeL")


def test_floor_messages_never_round_a_value_onto_its_floor():
    from clue_checks.tasks.base import floor_verdict, shown_against

    passed, why = floor_verdict({"rougeL": 0.0996}, {"rougeL": 0.1}, "some answer")
    assert not passed and why == "rougeL F 0.0996 < floor 0.1"  # not "0.100 < floor 0.1"
    assert shown_against(0.25, 0.1) == "0.250" and shown_against(0.1, 0.1) == "0.100"


def test_echoed_prefix_is_stripped_in_chat_mode():
    assert strip_echoed_prefix("Question: What is X?", "Question: ") == "What is X?"
    assert strip_echoed_prefix("What is X?", "Question: ") == "What is X?"


def test_paper_cleanup_removes_self_prompting_lines():
    task = MedNLI(PAPER)
    assert task.clean("neutral\nYou are an AI assistant and more", "other") == "neutral\n"
    assert task.clean("entailment <|end|> junk", "phi") == "entailment"
    assert MedNLI(HEAD).clean("neutral\nYou are an AI", "other") == "neutral\nYou are an AI"


def test_meqsum_file_shaped_like_the_real_one_loads_with_paper_shots(tmp_path):
    """As the real file (https://github.com/abachaa/MeQSum): sheet QS, File/CHQ/Summary, styled empty cells in D and E, multi-line CHQ,
    summaries with trailing whitespace kept; the paper era's shots are the first three rows."""
    from openpyxl.styles import Font

    rows = [("1-131188152.xml.txt", "SUBJECT: who and where to get cetirizine - D\nMESSAGE: I need/want to know who "
             "manufscturs Cetirizine.", "Who manufactures cetirizine?"),
            ("14348.txt", "SUBJECT: bromocriptine\nMESSAGE: side effects?", "What are the side effects of bromocriptine?"),
            ("1-131985747.xml.txt", "SUBJECT: nulytely\nMESSAGE: how to take it", "How do I take NuLYTELY?"),
            ("16019.txt", "SUBJECT: headache\nMESSAGE: what helps", "What treats headaches? "),
            ("NF_123.txt", " leading space inquiry ", "What is X?")]
    path = write_meqsum(tmp_path, rows)
    wb = openpyxl.load_workbook(path)
    ws = wb["QS"]
    for row in range(1, len(rows) + 2):
        for col in ("D", "E"):
            ws[f"{col}{row}"].font = Font(bold=True)  # styled, but no value
    wb.save(path)
    loaded = MeQSum(PAPER).load(tmp_path)
    assert [s.id for s in loaded.shots] == ["1-131188152.xml.txt", "14348.txt", "1-131985747.xml.txt"]
    assert [s.id for s in loaded.samples] == ["16019.txt", "NF_123.txt"]
    assert loaded.samples[0].reference == "What treats headaches? "
    assert loaded.samples[1].record["CHQ"] == " leading space inquiry "
    assert loaded.samples[0].test_id == "meqsum:16019.txt"


# -- locations: errors name the file's own line / row, not a record index ----------------------


def test_mednli_bad_label_names_the_file_line_not_the_record_index(tmp_path):
    write_mednli(tmp_path, [nli(1), "", nli(2, "ENTAILS")])  # a blank line: record 2 is on line 3
    with pytest.raises(DataError) as info:
        MedNLI(PAPER).load(tmp_path)
    assert info.value.where == "line 3 (pairID p2)" and "gold_label" in info.value.problem


def test_mednli_duplicate_pair_id_names_its_line(tmp_path):
    write_mednli(tmp_path, [nli(1), "", nli(2), nli(1)])
    with pytest.raises(DataError, match=r"line 4: duplicate pairID 'p1'"):
        MedNLI(PAPER).load(tmp_path)


def test_meqsum_duplicate_file_names_the_sheet_row(tmp_path):
    write_meqsum(tmp_path, [("a.txt", "q", "s"), ("b.txt", "q", "s"), ("a.txt", "q", "s")])
    with pytest.raises(DataError, match=r"sheet 'QS' row 4: duplicate File 'a.txt'"):
        MeQSum(PAPER).load(tmp_path)


def test_prompt_file_carries_clues_full_mit_notice():
    """MIT: "The above copyright notice and this permission notice shall be included" with the copied texts."""
    data = clue_prompts()
    notice = data["_license"]
    assert notice.startswith("MIT License\n\nCopyright (c) 2024 Amin Dada, Marie Bauer, Amanda Butler Contreras, "
                             "Osman Alperen Koraş, Constantin Marc Seibold, Kaleb E Smith, Jens Kleesiek\n")
    assert "The above copyright notice and this permission notice shall be included in all\n" in notice
    assert "https://github.com/TIO-IKIM/CLUE" in data["_attribution"]


def test_mednli_non_utf8_byte_names_file_and_line(tmp_path):
    path = write_mednli(tmp_path, [nli(1), nli(2), nli(3)])
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"Premise 3.", b"Pr\xe9mise 3.")  # Latin-1 é
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(DataError) as info:
        MedNLI(PAPER).load(tmp_path)
    assert info.value.path == path and info.value.where == "line 3"
    assert "not UTF-8 text: byte 0xe9 at byte 18 of the line" in str(info.value)
    assert "mli_test_v1.jsonl, line 3" in str(info.value) and "UnicodeDecodeError" not in str(info.value)


def test_meqsum_xlsx_is_not_text_so_bad_bytes_are_an_unreadable_workbook(tmp_path):
    # An xlsx is a zip of XML that openpyxl decodes itself: a stray Latin-1 byte where the workbook should be
    # is "not a readable xlsx workbook", never a raw decoding error.
    path = tmp_path / "MeQSum" / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
    path.parent.mkdir()
    path.write_bytes(b"File,CHQ,Summary\n1.txt,caf\xe9,x\n")
    with pytest.raises(DataError, match="not a readable xlsx workbook"):
        MeQSum(PAPER).load(tmp_path)


def test_tasks_do_not_import_the_endpoint_layer():
    """A task says what to ask; how it goes on the wire is the renderer's (rendering_specs)."""
    import ast

    for path in (Path(__file__).resolve().parents[1] / "clue_checks" / "tasks").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imported if m.startswith(("clue_checks.endpoint", "clue_checks.rendering"))], path
