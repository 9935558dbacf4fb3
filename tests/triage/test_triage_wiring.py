"""Failure kinds wired into the plugin, unit by unit: the sample's record and message, the report's counts and
tables, prediction rows, `--clue-kind`'s selection and `--clue-redact`."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from clue_checks import settings as settings_mod
from clue_checks.endpoint.types import Completion
from clue_checks.report.numbers import kinds_table
from clue_checks.report.write import pieces as render
from clue_checks.record import SampleRecord
from clue_checks.report.numbers.aggregate import TaskSpec
from clue_checks.report.build import RunFacts, build_report
from clue_checks.report.write.folder import write_files
from clue_checks.report.write.markdown import markdown
from clue_checks.report.write.junit import sample_output
from clue_checks.report.write.redact import redact_reason, redact_row, redact_text
from clue_checks.roles.kind_selection import read_selection, split_items
from clue_checks.sample_verdict import SampleCheck
from clue_checks.tasks import TASKS, get_profile
from clue_checks.tasks.base import Sample

PAPER = get_profile("paper")
PROMPT = "[user] Premise: the patient denies chest pain. Hypothesis: the patient has chest pain."


def check(task_name: str, response: str, reference: str, *, finish: str = "eos_token", redact: bool = False,
          raw: str | None = None) -> SampleCheck:
    task = TASKS[task_name](PAPER)
    sample = Sample(task_name, "s1", {}, reference)
    completion = Completion(raw if raw is not None else response, finish, generated_tokens=7, prompt_tokens=40,
                            latency_s=0.5)
    evaluated = SimpleNamespace(sample=sample, scored_text=response, request=SimpleNamespace(prompt=PROMPT, mode="generate"),
                                outcome=SimpleNamespace(completion=completion, source="sent"))
    return SampleCheck(task, evaluated, {}, 0, node_id="tests_clinical/test_x.py::test_sample[x]", redact=redact)


def test_a_sample_record_carries_its_kinds_and_the_message_names_them_first():
    c = check("mednli", "I cannot tell from these statements", "neutral")
    assert c.record.kinds == ("format",) and not c.result.passed
    assert c.explain().splitlines()[0] == "mednli:s1 failed [format]: gold label NEUTRAL not in the answer"
    assert c.headline() == "mednli:s1 failed [format]: gold label NEUTRAL not in the answer"
    assert (c.record.finish_reason, c.record.tokens_in, c.record.tokens_out, c.record.latency_s) == (
        "eos_token", 40, 7, 0.5)


def test_a_passing_sample_can_have_a_kind_and_its_verdict_stays_clues():
    c = check("mednli", "entailment, contradiction or neutral", "neutral")
    assert c.result.passed and c.record.outcome == "passed" and c.record.kinds == ("hedged",)
    assert c.passed_text().startswith("mednli:s1 passed [hedged]: ")
    again = TASKS["mednli"](PAPER).score(Sample("mednli", "s1", {}, "neutral"), "entailment, contradiction or neutral", {})
    assert (again.passed, dict(again.metrics)) == (c.result.passed, dict(c.record.metrics))


def test_no_kind_no_brackets():
    c = check("mednli", "neutral", "neutral")
    assert c.record.kinds == () and c.passed_text().startswith("mednli:s1 passed: ")


def test_a_loop_to_the_token_limit_is_truncated_and_a_repetition_loop():
    loop = "Sepsis and fever. " * 30
    c = check("meqsum", loop, "What causes sepsis?", finish="length")
    assert {"truncated", "repetition_loop"} <= set(c.record.kinds)


def test_redacted_messages_show_hashes_not_text():
    c = check("medisumcode", "E11.65, I10", "E1164", redact=True)
    message = c.explain()
    assert "E11.65" not in message and "E1164" not in message and "chest pain" not in message
    assert redact_text("E11.65, I10") in message and redact_text(PROMPT) in message
    assert "code_increment" in message.splitlines()[0]


def test_redact_reason_hashes_codes_and_keeps_labels_and_letters():
    assert "E11.65" not in redact_reason("near misses: E11.65 predicted for gold E11.64 (last digit counted up)")
    for kept in ("gold label NEUTRAL not in the answer", "parsed 'B', ground truth F", "rougeL F 0.050 < floor 0.1"):
        assert redact_reason(kept) == kept
    assert redact_text(redact_text("some text")) == redact_text("some text")  # a merge writes redacted rows again


def record(task: str, i: int, kinds: tuple[str, ...], outcome: str = "failed", **kw) -> SampleRecord:
    return SampleRecord(task, f"s{i}", i, outcome, metrics={"accuracy": 0.0 if outcome == "failed" else 1.0},
                        response=f"reply {i}", reference="neutral", kinds=kinds, finish_reason="eos_token", **kw)


SPECS = (TaskSpec("mednli", "MedNLI", 1, ("accuracy",), (), n_selected=4, n_total=4),)


def test_the_report_counts_kinds_per_task_and_shows_them_as_tables():
    records = [record("mednli", 0, ("format",)), record("mednli", 1, ("hedged", "wrong_answer")),
               record("mednli", 2, ("hedged",), "passed"), record("mednli", 3, (), "passed")]
    built = build_report(records, RunFacts(run={"seeds": {"shots": 1, "longhealth": 1, "bootstrap": 1,
                                                         "bootstrap_resamples": 10}}, manifest={}, specs=SPECS))
    report = built.as_dict()
    counts = report["tasks"]["mednli"]["kinds"]
    assert counts["hedged"] == 2 and counts["format"] == 1 and counts["wrong_answer"] == 1 and counts["empty"] == 0
    assert report["tasks"]["mednli"]["metrics"]["accuracy"]["value"] == 0.5  # the score is CLUE's, kinds aside
    assert kinds_table.terminal_lines(report) == ["kinds MedNLI (n=4): format 1, hedged 2, wrong_answer 1"]
    md = markdown(built)
    assert "| task | n | `format` | `hedged` | `wrong_answer` |" in md and "| MedNLI | 4 | 1 | 2 | 1 |" in md


def test_a_kind_not_looked_for_is_a_dash_found_nowhere_a_zero():
    report = {"tasks": {"mednli": {"title": "MedNLI", "n_samples": 2, "kinds": {"format": 1, "low_overlap": 0}},
                        "meqsum": {"title": "MeQSum", "n_samples": 3, "kinds": {"low_overlap": 2}}}}
    lines = kinds_table.markdown_lines(report)
    assert "| MedNLI | 2 | 1 | 0 |" in lines and "| MeQSum | 3 | — | 2 |" in lines


def test_prediction_rows_name_the_parsed_answer_apart_from_longhealths_parsed_metric(tmp_path):
    r = SampleRecord("longhealth-t1", "p1/q1", 0, "passed", metrics={"accuracy": 1.0, "parsed": 1.0}, parsed="B",
                     response="The correct answer is B:", reference="B", kinds=("hedged",), finish_reason="length",
                     tokens_in=9, tokens_out=3, latency_s=0.1, prompt="[user] q", node_id="n")
    row = render.prediction_row(r)
    assert row["parsed_answer"] == "B" and "parsed" not in row and row["metrics"]["parsed"] == 1.0
    assert row["Model Answer"] == "The correct answer is B:" and row["Ground Truth Answer"] == "B"
    spec = TaskSpec("longhealth-t1", "LongHealth task 1", 2, ("accuracy", "parsed"))
    write_files(tmp_path, build_report([r], RunFacts(run={}, manifest={}, specs=(spec,))))
    assert render.read_predictions(tmp_path) == {"longhealth-t1": [r]}  # read back whole


def test_redacted_rows_are_written_with_hashes(tmp_path):
    r = record("medisumcode", 0, ("code_increment",), reason="near misses: E11.65 predicted for gold E11.64",
               prompt="[user] the letter", parsed="E11.65")
    spec = TaskSpec("medisumcode", "MeDiSumCode", 2, ("accuracy",))
    write_files(tmp_path, build_report([r], RunFacts(run={"redacted": True}, manifest={}, specs=(spec,))))
    row = json.loads((tmp_path / "predictions" / "medisumcode.jsonl").read_text())
    assert row == redact_row(render.prediction_row(r))
    text = json.dumps(row)
    assert "reply 0" not in text and "E11.65" not in text and "the letter" not in text
    assert row["kinds"] == ["code_increment"] and row["finish_reason"] == "eos_token"


def test_junit_system_out_names_kinds_and_redacts():
    r = record("mednli", 0, ("hedged", "wrong_answer"), reason="gold label NEUTRAL named 2 times")
    assert "clue.kinds: hedged, wrong_answer" in sample_output(r)
    redacted = sample_output(r, redact=True)
    assert "reply 0" not in redacted and redact_text("reply 0") in redacted and "clue.kinds: hedged" in redacted


def write_rows(folder: Path, task: str, rows: list[dict]) -> None:
    (folder / "predictions").mkdir(parents=True, exist_ok=True)
    (folder / "predictions" / f"{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_kind_selection_reads_the_last_rows(tmp_path):
    write_rows(tmp_path, "meqsum", [{"task": "meqsum", "sample_id": "a", "kinds": ["truncated", "repetition_loop"]},
                                    {"task": "meqsum", "sample_id": "b", "kinds": ["low_overlap"]},
                                    {"task": "meqsum", "sample_id": "c", "kinds": []}])
    write_rows(tmp_path, "mednli", [{"task": "mednli", "sample_id": "x", "kinds": ["truncated"]}])
    chosen = read_selection(tmp_path, ("truncated",))
    assert chosen.ids == {"meqsum:a", "mednli:x"}
    assert read_selection(tmp_path, ("low_overlap", "repetition_loop")).ids == {"meqsum:a", "meqsum:b"}
    items = [SimpleNamespace(id=i) for i in ("meqsum:a", "meqsum:b", None)]
    keep, drop = split_items(items, chosen, lambda item: item.id)  # a non-CLUE test is always kept
    assert [i.id for i in keep] == ["meqsum:a", None] and [i.id for i in drop] == ["meqsum:b"]


def test_kind_selection_needs_a_report_with_kinds(tmp_path):
    with pytest.raises(pytest.UsageError, match="without --clue-kind"):
        read_selection(tmp_path, ("truncated",))
    write_rows(tmp_path, "mednli", [{"id": "x", "Model Answer": "neutral"}])  # CLUE's layout: no kinds
    with pytest.raises(pytest.UsageError, match="record no failure kinds"):
        read_selection(tmp_path, ("truncated",))


@pytest.mark.parametrize("value, problem", [("loopy", "unknown failure kind"), (",", "unknown failure kind")])
def test_unknown_kinds_are_a_usage_error_listing_the_table(value, problem):
    with pytest.raises(pytest.UsageError, match=problem) as info:
        settings_mod.parse_kinds((value, "cli"), cache_off=False, refresh=False)
    assert "repetition_loop" in str(info.value) and "code_increment" in str(info.value)


def test_kinds_need_the_store():
    assert settings_mod.parse_kinds(("truncated, format,truncated", "cli"), cache_off=False, refresh=False) == (
        "truncated", "format")
    for off in ({"cache_off": True, "refresh": False}, {"cache_off": False, "refresh": True}):
        with pytest.raises(pytest.UsageError, match="store"):
            settings_mod.parse_kinds(("truncated", "cli"), **off)
