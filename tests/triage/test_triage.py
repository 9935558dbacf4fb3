"""Failure kinds: the table, one property test per detector, and kinds read through the tasks' own scoring."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from clue_checks.endpoint.types import Completion
from clue_checks.metrics.icd10 import is_code_increment
from clue_checks.tasks import TASKS, get_profile
from clue_checks.tasks.base import Sample, SampleResult
from clue_checks.tasks.mednli import LABELS
from clue_checks.triage import (KIND_NAMES, KINDS, Evidence, evidence_for, evidence_for_error, kind_counts,
                                kinds_for, kinds_of_task)
from clue_checks.triage import detectors as d
from clue_checks.triage.kinds import LOW_OVERLAP_ROUGE_L, REPEAT_LINES, REPEAT_TIMES, REPEAT_WORDS

PAPER = get_profile("paper")
TRIAGE_DOC = Path(__file__).resolve().parents[2] / "docs" / "triage.md"
ALL_TASKS = tuple(TASKS)
LONGHEALTH = ("longhealth-t1", "longhealth-t2", "longhealth-t3")
CAPITALS = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


def scored(task_name: str, response: str, reference: str, *, finish_reason: str | None = "eos_token",
           floors: dict | None = None, raw: str | None = None) -> Evidence:
    """Evidence built as the plugin builds it: the task's own score() of the response."""
    task = TASKS[task_name](PAPER)
    sample = Sample(task_name, "s1", {}, reference)
    result = task.score(sample, response, floors or {})
    evaluated = SimpleNamespace(sample=sample, scored_text=response,
                                outcome=SimpleNamespace(completion=Completion(raw if raw is not None else response,
                                                                              finish_reason)))
    return evidence_for(task, evaluated, result, floors)


def kinds(task_name: str, response: str, reference: str, **kw) -> tuple[str, ...]:
    return kinds_for(scored(task_name, response, reference, **kw))


# -- the table -----------------------------------------------------------------------------------


def test_every_kind_has_one_detector_and_every_detector_a_kind():
    assert tuple(d.DETECTORS) == KIND_NAMES
    assert len(set(KIND_NAMES)) == len(KIND_NAMES)
    assert all(k.tasks is None or set(k.tasks) <= set(ALL_TASKS) for k in KINDS)


def test_the_docs_table_states_every_definition():
    text = TRIAGE_DOC.read_text(encoding="utf-8")
    for kind in KINDS:
        row = next((line for line in text.splitlines() if line.startswith(f"| `{kind.name}` |")), None)
        assert row is not None, f"docs/triage.md has no row for {kind.name}"
        assert kind.definition in row


def test_kinds_per_task_follow_the_table():
    assert kinds_of_task("meqsum") == ("endpoint_error", "empty", "truncated", "repetition_loop", "low_overlap")
    assert "unanswerable_missed" in kinds_of_task("longhealth-t3") and "hedged" in kinds_of_task("mednli")
    assert "code_increment" in kinds_of_task("medisumcode") and "format" not in kinds_of_task("medisumqa")


def test_kind_counts_lists_every_kind_looked_for_in_table_order():
    counts = kind_counts("mednli", [("format",), ("hedged", "truncated"), (), ("hedged",), ("from_the_future",)])
    assert list(counts) == [*kinds_of_task("mednli"), "from_the_future"]
    assert counts["hedged"] == 2 and counts["format"] == 1 and counts["empty"] == 0 and counts["from_the_future"] == 1
    assert kind_counts("meqsum", [("empty", "empty")])["empty"] == 1  # a sample counts once per kind


def test_evidence_for_reads_the_completion_and_the_task():
    e = scored("longhealth-t1", "The correct answer is B:", "B", finish_reason="length", raw="raw text")
    assert (e.task, e.passed, e.response, e.raw, e.finish_reason, e.reference, e.options) == (
        "longhealth-t1", True, "The correct answer is B:", "raw text", "length", "B", "ABCDE")
    assert e.details["parsed"] == "B" and e.error is None


# -- endpoint_error, empty, truncated ------------------------------------------------------------


@given(st.sampled_from(ALL_TASKS), st.text(min_size=1))
def test_a_failed_request_is_an_endpoint_error_and_nothing_else(task, message):
    assert kinds_for(evidence_for_error(task, message, reference="x")) == ("endpoint_error",)


@given(st.sampled_from(ALL_TASKS), st.text(alphabet=" \t\r\n", max_size=300), st.sampled_from([None, "length"]))
def test_whitespace_only_is_empty_and_nothing_about_its_answer(task, response, finish):
    e = Evidence(task, passed=False, response=response, finish_reason=finish,
                 metrics={"rougeL": 0.0}, details={"label_counts": {}, "predicted": []}, reference="F", options="ABCDEF")
    assert kinds_for(e) == (("empty", "truncated") if finish == "length" else ("empty",))


@given(st.text(min_size=1).filter(lambda t: t.strip()))
def test_any_visible_character_is_not_empty(response):
    assert not d.empty(Evidence("meqsum", True, response))


@given(st.sampled_from(ALL_TASKS), st.one_of(st.none(), st.sampled_from(["eos_token", "stop", "stop_sequence",
                                                                             "length", "LENGTH", ""])))
def test_truncated_iff_finish_reason_length(task, finish):
    assert d.truncated(Evidence(task, True, "x", finish_reason=finish)) == (finish == "length")


def test_two_hundred_newlines_at_the_token_limit():
    assert kinds("mednli", "\n" * 200, "neutral", finish_reason="length") == ("empty", "truncated")


# -- repetition_loop -----------------------------------------------------------------------------


def _ngram_repeats(text: str, n: int) -> bool:
    tokens = [w.casefold() for w in re.findall(r"\w+", text)]
    grams = [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) < len(grams)


@given(st.text(max_size=400))
def test_repetition_needs_a_repeated_ngram_or_line(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if d.repeats_itself(text):
        assert _ngram_repeats(text, REPEAT_WORDS) or len(set(lines)) < len(lines)


@given(st.lists(words, unique=True, max_size=200), st.sampled_from([" ", "\n", ", ", ". "]))
def test_text_without_a_repeated_word_never_loops(vocabulary, separator):
    assert not d.repeats_itself(separator.join(vocabulary))


@given(st.lists(words, min_size=REPEAT_WORDS, max_size=12), st.sampled_from([" ", "\n", ". "]))
def test_a_phrase_of_five_words_said_four_times_loops(phrase, separator):
    text = separator.join([" ".join(phrase)] * REPEAT_TIMES)
    assert d.repeats_itself(text)


@given(st.lists(words, min_size=1, max_size=REPEAT_WORDS - 1))
def test_a_short_phrase_looping_for_twenty_rounds_loops(phrase):
    assert d.repeats_itself(" ".join(phrase * (REPEAT_WORDS * REPEAT_TIMES)))


@given(st.text(min_size=1, max_size=30).filter(lambda t: t.strip() and len(t.splitlines()) == 1))
def test_a_line_said_four_times_loops_three_times_does_not(line):
    assume(not _ngram_repeats(line, REPEAT_WORDS) and "filler" not in line.casefold())
    assert d.repeats_itself("\n".join([line] * REPEAT_LINES))
    # Unique filler lines between the copies, so only the line itself repeats, three times.
    assert not d.repeats_itself("\n".join(f"{line}\nfiller{i}" for i in range(REPEAT_LINES - 1)))


def test_repetition_is_read_on_the_raw_text():
    loop = "The patient is stable. " * 10
    assert "repetition_loop" in kinds("meqsum", "a summary", "a summary", raw="a summary " + loop)
    assert "repetition_loop" not in kinds("meqsum", "a summary", "a summary", raw="a summary")


def test_a_list_of_codes_is_not_a_loop_but_one_code_over_and_over_is():
    assert not d.repeats_itself("E11.9, I10, N18.3, E78.5, Z79.4, I25.10, K21.9, J44.9")
    assert d.repeats_itself(", ".join(["E11.9"] * 12))


# -- format, hedged: MedNLI read by its own scorer -------------------------------------------------

no_label = st.text(alphabet="abcdfghijklmopqrsuvwxyz .,\n", max_size=80).filter(
    lambda t: t.strip() and not any(label in t for label in LABELS))


@given(no_label, st.sampled_from(LABELS))
def test_mednli_without_a_label_is_format(response, gold):
    assert kinds("mednli", response, gold) == ("format",)


@given(no_label, st.sampled_from(LABELS), st.data())
def test_mednli_adding_a_second_label_always_makes_hedged(response, gold, data):
    first, second = data.draw(st.lists(st.sampled_from(LABELS), min_size=2, max_size=2, unique=True))
    one = f"{response} {first}"
    assert "hedged" not in kinds("mednli", one, gold)
    assert "hedged" in kinds("mednli", f"{one} {second}", gold)


@given(st.sampled_from(LABELS), st.sampled_from(LABELS))
def test_mednli_one_label_is_right_or_a_wrong_answer(label, gold):
    assert kinds("mednli", label, gold) == (() if label == gold else ("wrong_answer",))


def test_mednli_all_three_labels_pass_clue_and_are_hedged():
    e = scored("mednli", "entailment, contradiction or neutral", "neutral")
    assert e.passed and kinds_for(e) == ("hedged",)


# -- LongHealth read by its own scorer ------------------------------------------------------------

answer = "The correct answer is {}: some option text."


@given(st.sampled_from(LONGHEALTH), st.text(alphabet="abcdefghij .,\n", max_size=60).filter(str.strip))
def test_longhealth_without_clues_pattern_is_format(task, response):
    assert "format" in kinds(task, response, "F" if task == "longhealth-t3" else "B")


@given(st.sampled_from(LONGHEALTH), st.sampled_from(CAPITALS))
def test_out_of_options_iff_the_letter_was_not_offered(task, letter):
    offered = "ABCDE" if task == "longhealth-t1" else "ABCDEF"
    assert ("out_of_options" in kinds(task, answer.format(letter), "A")) == (letter not in offered)


def test_f_on_task1_is_out_of_options():
    assert "out_of_options" in kinds("longhealth-t1", answer.format("F"), "B")


@given(st.sampled_from(LONGHEALTH), st.sampled_from("ABCDEF"), st.sampled_from("ABCDEF"), st.sampled_from("ABCDE"))
def test_two_different_letters_are_hedged_one_letter_twice_is_not(task, first, second, gold):
    both = f"{answer.format(first)} Or maybe: {answer.format(second)}"
    assert ("hedged" in kinds(task, both, gold)) == (first != second)
    assert "hedged" not in kinds(task, answer.format(first), gold)


def test_hedging_in_the_lenient_forms_counts_too():
    assert "hedged" in kinds("longhealth-t2", "Answer: B. On reflection, Answer: C.", "B")


@given(st.sampled_from("ABCDEF"))
def test_task3_a_letter_where_f_is_right_is_unanswerable_missed(letter):
    got = kinds("longhealth-t3", answer.format(letter), "F")
    assert ("unanswerable_missed" in got) == (letter != "F")
    assert "wrong_answer" not in got and "abstained" not in got


def test_task3_letter_without_clues_form_is_still_a_missed_unanswerable():
    assert kinds("longhealth-t3", "Answer: C", "F") == ("format", "unanswerable_missed")


@given(st.sampled_from(["longhealth-t1", "longhealth-t2"]), st.sampled_from("ABCDE"))
def test_abstaining_where_the_documents_answer(task, gold):
    said_f = kinds(task, answer.format("F"), gold)
    assert "abstained" in said_f
    assert ("out_of_options" in said_f) == (task == "longhealth-t1")
    assert "abstained" in kinds(task, "The documents do not mention the dose.", gold)
    assert "abstained" not in kinds(task, answer.format(gold), gold)


@given(st.sampled_from(LONGHEALTH), st.sampled_from("ABCDE"), st.sampled_from("ABCDE"))
def test_longhealth_wrong_letter_is_wrong_answer_unless_a_kind_explains_it(task, letter, gold):
    gold = "F" if task == "longhealth-t3" else gold
    got = kinds(task, answer.format(letter), gold)
    if letter == gold:
        assert got == ()
    elif task == "longhealth-t3":
        assert got == ("unanswerable_missed",)
    else:
        assert got == ("wrong_answer",)


# -- MeDiSumCode ----------------------------------------------------------------------------------

category = st.sampled_from(["E11", "E10", "I25", "S72", "Z79"])
tail = st.text(alphabet="0123456789AX", min_size=1, max_size=4)


def _increments(gold: str) -> set[str]:
    """The oracle: gold with its last digit replaced by each larger digit."""
    last = max((i for i, ch in enumerate(gold) if ch.isdigit()), default=-1)
    if last < 3:
        return set()
    return {gold[:last] + str(digit) + gold[last + 1:] for digit in range(int(gold[last]) + 1, 10)}


@given(category, tail, category, tail)
def test_code_increment_iff_the_gold_code_with_its_last_digit_raised(c1, t1, c2, t2):
    pred, gold = c1 + t1, c2 + t2
    assert is_code_increment(pred, gold) == (pred in _increments(gold))


@given(category, tail)
def test_every_increment_of_a_gold_code_is_detected(c, t):
    gold = c + t
    for pred in _increments(gold):
        assert is_code_increment(pred, gold) and not is_code_increment(gold, pred)


def test_code_increment_examples():
    assert is_code_increment("E1165", "E1164") and is_code_increment("S72002A", "S72001A")
    assert not is_code_increment("E1065", "E1010")  # another subcode, not a count
    assert not is_code_increment("E1164", "E1165") and not is_code_increment("E12", "E11")
    assert not is_code_increment("E11650", "E1164")


def test_medisumcode_kinds_through_its_scorer():
    assert "code_increment" in kinds("medisumcode", "E11.65, I10", "E1164")
    assert "code_increment" not in kinds("medisumcode", "E10.65", "E1010")
    assert kinds("medisumcode", "no codes at all", "E1164") == ("format",)
    assert kinds("medisumcode", "E11.64", "E1164") == ()
    assert "invalid_code" in kinds("medisumcode", "E11.99", "E1164")  # simple-icd-10-cm is required
    assert kinds("medisumcode", "I10", "E1164") == ("wrong_answer",)


@given(st.lists(st.text(alphabet="EIX0123456789", min_size=3, max_size=6), max_size=5),
       st.lists(st.text(alphabet="EIX0123456789", min_size=3, max_size=6), min_size=1, max_size=5))
def test_code_increment_detector_iff_some_predicted_code_counts_up_a_gold_one(pred, gold):
    e = Evidence("medisumcode", False, "codes", details={"predicted": pred, "gold": gold})
    expected = any(is_code_increment(p, g) for p in pred if p not in gold for g in gold)
    assert d.code_increment(e) == expected


@given(st.lists(st.text(min_size=1, max_size=6), max_size=3))
def test_invalid_code_iff_the_task_found_one(invalid):
    assert d.invalid_code(Evidence("medisumcode", False, "x", details={"invalid": invalid})) == bool(invalid)


# -- wrong_answer, low_overlap ----------------------------------------------------------------------


GOLDS = {"mednli": LABELS, "longhealth-t1": tuple("ABCDE"), "longhealth-t2": tuple("ABCDEF"),
         "longhealth-t3": ("F",), "medisumcode": ("E1164", "E1164, I10")}
replies = st.one_of(st.text(max_size=80), st.sampled_from(
    [*LABELS, "entailment neutral", *(answer.format(c) for c in "ABCFG"), "Answer: B", "E11.65", "I10, E11.64"]))


@given(st.sampled_from(list(GOLDS)), replies, st.data())
def test_wrong_answer_only_on_failed_samples_and_never_beside_an_answer_kind(task, response, data):
    e = scored(task, response, data.draw(st.sampled_from(GOLDS[task])))
    got = kinds_for(e)
    if "wrong_answer" in got:
        assert not e.passed
        assert not {"format", "hedged", "out_of_options", "unanswerable_missed", "abstained", "invalid_code",
                    "code_increment", "empty"} & set(got)


@given(st.sampled_from(["meqsum", "problemsummary", "medisumqa"]), st.floats(0, 1))
def test_low_overlap_iff_rouge_l_below_the_bar(task, value):
    e = Evidence(task, True, "a reply", metrics={"rouge1": 0.9, "rouge2": 0.9, "rougeL": value})
    assert d.low_overlap(e) == (value < LOW_OVERLAP_ROUGE_L)


@given(st.floats(0, 1), st.floats(0, 1))
def test_a_rouge_floor_replaces_the_bar(value, floor):
    e = Evidence("meqsum", value >= floor, "a reply", metrics={"rougeL": value}, floors={"rougeL": floor})
    assert d.low_overlap(e) == (value < floor)


def test_low_overlap_through_the_scorer_and_not_on_an_empty_reply():
    assert "low_overlap" in kinds("meqsum", "completely unrelated words", "What dose of aspirin is safe?")
    assert "low_overlap" not in kinds("meqsum", "What dose of aspirin is safe?", "What dose of aspirin is safe?")
    assert kinds("meqsum", "", "What dose of aspirin is safe?") == ("empty",)
    assert d.low_overlap(Evidence("meqsum", True, "x", metrics={"rougeL": None})) is False  # not computed


# -- kinds never change the scores --------------------------------------------------------------------


@given(st.sampled_from(ALL_TASKS), st.text(max_size=60))
def test_kinds_leave_the_result_as_scored(task_name, response):
    task = TASKS[task_name](PAPER)
    sample = Sample(task_name, "s1", {}, "F" if task_name.startswith("longhealth") else "neutral")
    first = task.score(sample, response, {})
    evaluated = SimpleNamespace(sample=sample, scored_text=response,
                                outcome=SimpleNamespace(completion=Completion(response, "length")))
    kinds_for(evidence_for(task, evaluated, first, {}))
    again = task.score(sample, response, {})
    assert (first.metrics, first.passed, first.reason) == (again.metrics, again.passed, again.reason)
    assert isinstance(first, SampleResult)
