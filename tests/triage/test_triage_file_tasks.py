"""A task file's task is looked for the failure kinds its parser and metric make meaningful, read from what the
task is (its answer reader, its metric), never from its name."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clue_checks.endpoint.types import Completion
from clue_checks.metrics.icd10 import invalid_codes
from clue_checks.tasks import get_profile
from clue_checks.tasks.file_task import load_task_file
from clue_checks.tasks.taskfile import TaskFileError
from clue_checks.triage import evidence_for, kinds_for
from clue_checks.triage.kinds import KIND_NAMES, kinds_for_answers

GENERIC = ("endpoint_error", "empty", "truncated", "repetition_loop")


def task_file(tmp_path: Path, answer: str, metric: str, extra: str = "", task: str = "") -> type:
    (tmp_path / "data.jsonl").write_text(json.dumps({"id": "1", "text": "t", "ref": "yes"}) + "\n", encoding="utf-8")
    path = tmp_path / "t.toml"
    path.write_text(f'[task]\nname = "mine"\n{task}\n[data]\nfile = "data.jsonl"\nid = "id"\ninputs = ["text"]\n'
                    f'reference = "ref"\n[prompt]\nuser = "{{{{ text }}}}"\n[generation]\nmax_new_tokens = 9\n'
                    f'[answer]\n{answer}\n[metric]\n{metric}\n{extra}', encoding="utf-8")
    return load_task_file(path)


CHOICES = 'parser = "choices"\nchoices = ["yes", "no"]'
BINARY = 'name = "accuracy"\nkind = "binary"'
ROUGE = 'name = "rougeL"\nkind = "continuous"'


def kinds_of(cls: type, response: str, reference: str, *, floors=None, finish: str = "stop") -> tuple[str, ...]:
    task = cls(get_profile("paper"))
    sample = SimpleNamespace(task=task.name, id="1", record={}, reference=reference)
    result = task.score(sample, response, floors or {})
    evaluated = SimpleNamespace(sample=sample, scored_text=response,
                                outcome=SimpleNamespace(completion=Completion(response, finish_reason=finish)))
    return kinds_for(evidence_for(task, evaluated, result, floors))


def test_the_kinds_a_parser_and_a_metric_make_meaningful():
    assert kinds_for_answers("choices", "binary") == (*GENERIC, "format", "hedged", "wrong_answer")
    assert kinds_for_answers("regex", "binary") == (*GENERIC, "format", "wrong_answer")
    assert kinds_for_answers("text", "continuous") == (*GENERIC, "low_overlap")
    assert kinds_for_answers("codes", "continuous") == (*GENERIC, "format", "invalid_code", "code_increment",
                                                        "low_overlap")
    assert kinds_for_answers("text", "continuous", batched=True) == GENERIC  # BERTScore: no per-sample value


@given(st.sampled_from(("choices", "regex", "text", "codes")), st.sampled_from(("binary", "continuous")),
       st.booleans())
def test_every_task_is_looked_for_the_generic_kinds_in_the_tables_order(parser, metric_kind, batched):
    kinds = kinds_for_answers(parser, metric_kind, batched=batched)
    assert kinds[:4] == GENERIC and list(kinds) == sorted(kinds, key=KIND_NAMES.index)
    assert not {"out_of_options", "unanswerable_missed", "abstained"} & set(kinds)  # LongHealth's letters only


def test_a_choices_task_finds_format_hedged_and_wrong_answer(tmp_path):
    cls = task_file(tmp_path, CHOICES, BINARY)
    assert cls.failure_kinds == (*GENERIC, "format", "hedged", "wrong_answer") and cls.answer_reader == "choices"
    assert kinds_of(cls, "yes", "yes") == ()
    assert kinds_of(cls, "perhaps", "yes") == ("format",)
    assert kinds_of(cls, "yes or no", "yes") == ("hedged",)
    assert kinds_of(cls, "no", "yes") == ("wrong_answer",)
    assert kinds_of(cls, " ", "yes") == ("empty",)
    assert kinds_of(cls, "no no no", "yes", finish="length") == ("truncated", "wrong_answer")


def test_a_regex_task_finds_format_when_the_pattern_does_not_match(tmp_path):
    cls = task_file(tmp_path, 'parser = "regex"\npattern = "Answer: (\\\\w+)"', BINARY)
    assert kinds_of(cls, "Answer: yes", "yes") == ()
    assert kinds_of(cls, "yes", "yes") == ("format",)
    assert kinds_of(cls, "Answer: no", "yes") == ("wrong_answer",)


def test_a_continuous_task_finds_low_overlap_under_its_floor_or_rouge_ls_default(tmp_path):
    cls = task_file(tmp_path, 'parser = "text"', ROUGE)
    assert cls.overlap_metrics == ("rougeL", "rouge1", "rouge2")
    assert kinds_of(cls, "something else entirely", "the patient is well") == ("low_overlap",)  # under 0.1
    assert kinds_of(cls, "the patient is unwell", "the patient is well") == ()
    assert kinds_of(cls, "the patient is unwell", "the patient is well", floors={"rougeL": 0.9}) == ("low_overlap",)
    set_f1 = task_file(tmp_path, 'parser = "text"', 'name = "set_f1"\nkind = "continuous"')
    assert kinds_of(set_f1, "a, b", "c") == ()  # no floor, and no default for a metric other than ROUGE
    assert kinds_of(set_f1, "a, b", "c", floors={"set_f1": 0.5}) == ("low_overlap",)


def test_a_codes_task_finds_format_code_increment_and_invalid_codes(tmp_path):
    cls = task_file(tmp_path, 'parser = "codes"', 'name = "icd10_ap_f1"\nkind = "continuous"')
    assert kinds_of(cls, "E11.64", "E11.64") == ()
    assert kinds_of(cls, "no codes here", "E11.64") == ("format",)  # no floor set: overlap not judged
    assert kinds_of(cls, "no codes here", "E11.64", floors={"icd10_ap_f1": 0.5}) == ("format", "low_overlap")
    assert "code_increment" in kinds_of(cls, "E11.65", "E11.64")
    if invalid_codes(["Q99999"]):  # with simple-icd-10-cm installed
        assert "invalid_code" in kinds_of(cls, "Q99.999 E11.64", "E11.64")


def test_task_kinds_look_for_only_the_listed_kinds_and_refuse_one_that_cannot_apply(tmp_path):
    cls = task_file(tmp_path, CHOICES, BINARY, task='kinds = ["wrong_answer", "empty"]')
    assert cls.failure_kinds == ("empty", "wrong_answer")  # the table's order
    assert kinds_of(cls, "perhaps", "yes") == ()  # `format` not looked for
    for kind in ("low_overlap", "out_of_options"):
        with pytest.raises(TaskFileError, match=rf"failure kind\(s\) {kind} cannot be looked for with the choices "
                                                r"parser.*choose from endpoint_error, .*wrong_answer"):
            task_file(tmp_path, CHOICES, BINARY, task=f'kinds = ["{kind}"]')
