"""LongHealth tasks 1-3: loader, ground truth, parsing, CLUE's packing arithmetic, seeding, laziness."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from clue_checks.data.errors import DataError
from clue_checks.rendering_specs import rendering_spec
from clue_checks.tasks import longhealth as lh
from clue_checks.tasks import longhealth_data
from clue_checks.tasks.base import clue_prompts
from clue_checks.tasks.longhealth import LongHealthT1, LongHealthT2, LongHealthT3, pack
from clue_checks.tasks.longhealth_answers import lenient_letter, strict_letter
from clue_checks.tasks.longhealth_data import ground_truth
from clue_checks.tasks.profiles import PROFILES
from clue_checks.tasks.tokens import (
    NO_OFFSETS,
    EndpointTokenCounter,
    LocalTokenCounter,
    TokenCounter,
    TokenizerUnavailable,
)

TEXTS = clue_prompts()["longhealth"]
SYS, TEMPLATE = TEXTS["system"], TEXTS["user"]
SEP = TEXTS["document_separator"]
BASELINE_TOKENIZER = Path(__file__).resolve().parents[2] / "clue_checks" / "server" / "baseline_tokenizer"


class WordCounter:
    """Stub tokenizer: whitespace words plus one BOS per piece, as CLUE's `encode()` counted."""

    def __init__(self) -> None:
        self.calls = 0

    def count(self, text: str) -> int:
        self.calls += 1
        return 1 + len(text.split())

    def head(self, text: str, n_tokens: int) -> str:
        if n_tokens <= 1:  # nothing, or only the BOS
            return ""
        ends = [m.end() for m in re.finditer(r"\S+", text)]
        return text if n_tokens - 1 >= len(ends) else text[: ends[n_tokens - 2]]


def words(tag: str, n: int) -> str:
    return " ".join([tag] + [f"{tag}.w{i}" for i in range(n - 1)]) if n else ""


def question(no: Any, correct: str = "Rituximab", location: tuple[str, ...] = ("text_2", "text_0"),
             **override: Any) -> dict[str, Any]:
    q = {"No": no, "question": f"Which drug was given in case {no}?", "answer_a": "Aspirin", "answer_b": "Rituximab",
         "answer_c": "Chest pain", "answer_d": "Pain in the back", "answer_e": "Methotrexate", "correct": correct,
         "answer_location": {t: {"start": [0.1], "end": [0.2]} for t in location}}
    q.update(override)
    return q


def benchmark() -> dict[str, Any]:
    """3 patients × 6 texts; patient_01 has 2 questions, the others 1 each."""
    data: dict[str, Any] = {}
    for p in (1, 2, 3):
        pid = f"patient_{p:02d}"
        data[pid] = {"texts": {f"text_{t}": words(f"DOC-{pid}-t{t}", 20 + 5 * t) for t in range(6)},
                     "name": "Jane Doe", "birthday": "1960-01-01", "diagnosis": "DLBCL", "questions": []}
    data["patient_01"]["canaray-string"] = "LongHealth:test"
    data["patient_01"]["questions"] = [question(1), question(2, correct="pain", location=("text_1",))]
    data["patient_02"]["questions"] = [question("7", location=("text_5",))]
    data["patient_03"]["questions"] = [question(3, correct="Methotrexate", location=())]
    return data


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / lh.DATA_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return tmp_path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return write(tmp_path, benchmark())


def budgeted(profile: str = "paper", budget: int | None = 8140) -> Any:
    return dataclasses.replace(PROFILES[profile], longhealth_budget={"t1": budget, "t2": budget, "t3": budget})


def task(cls: type, data_dir: Path, profile: Any = None, counter: TokenCounter | None = None,
         window: int | None = None) -> Any:
    t = cls(profile or PROFILES["paper"])
    t.use_token_counter(counter or WordCounter(), window=window)
    t.loaded = t.load(data_dir)
    return t


def sample(t: Any, sample_id: str) -> Any:
    return next(s for s in t.loaded.samples if s.id == sample_id)


def documents(prompt: Any) -> list[str]:
    user = prompt.messages[-1].content
    body = user.split("--------------BEGIN DOCUMENTS--------------\n\n", 1)[1]
    return body.split("\n\n--------------END DOCUMENTS--------------", 1)[0].split(SEP)


def marker(doc: str) -> str:
    return doc.split(" ", 1)[0]


# -- loader ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mutate, where, field", [
    (lambda d: d["patient_02"].pop("texts"), "patient 'patient_02'", "'texts'"),
    (lambda d: d["patient_03"].__setitem__("questions", {}), "patient 'patient_03'", "'questions'"),
    (lambda d: d["patient_01"]["questions"][1].pop("correct"), "patient 'patient_01', question 2", "'correct'"),
    (lambda d: d["patient_01"]["questions"][0].__setitem__("answer_c", 3), "patient 'patient_01', question 1",
     "'answer_c'"),
    (lambda d: d["patient_02"]["questions"][0].pop("answer_location"), "patient 'patient_02', question 7",
     "'answer_location'"),
    (lambda d: d["patient_02"]["questions"][0]["answer_location"].__setitem__("text_9", {}),
     "patient 'patient_02', question 7", "'text_9'"),
    (lambda d: d["patient_01"]["questions"][0].pop("No"), "patient 'patient_01', question #1", "'No'"),
    (lambda d: d["patient_01"]["questions"][1].__setitem__("No", 1), "patient 'patient_01'", "number 1 appears twice"),
    (lambda d: d["patient_01"]["questions"][0].__setitem__("correct", ""), "question 1", "'correct' is empty"),
])
def test_loader_errors_name_patient_question_and_field(tmp_path, mutate, where, field):
    data = benchmark()
    mutate(data)
    with pytest.raises(DataError) as caught:
        LongHealthT1(PROFILES["paper"]).load(write(tmp_path, data))
    assert where in str(caught.value) and field in str(caught.value)
    assert str(caught.value).startswith(str(tmp_path / lh.DATA_PATH))


def test_loader_file_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        LongHealthT1(PROFILES["paper"]).load(tmp_path)
    with pytest.raises(DataError, match="malformed JSON"):
        LongHealthT1(PROFILES["paper"]).load(write(tmp_path, "{nope"))
    with pytest.raises(DataError, match="keyed by patient id"):
        LongHealthT1(PROFILES["paper"]).load(write(tmp_path, [1, 2]))


def test_loader_undecodable_or_html_file_is_a_data_error(tmp_path):
    path = write(tmp_path, "{}") / lh.DATA_PATH
    path.write_bytes(b'{"patient_01": {\n "texts": {"text_0": "caf\xe9"}}}')  # Latin-1, not UTF-8
    with pytest.raises(DataError, match=r"benchmark_v5\.json, line 2: not UTF-8 text: byte 0xe9 at byte 26 of"):
        LongHealthT1(PROFILES["paper"]).load(tmp_path)
    path.write_text("<!DOCTYPE html>\n<html>LongHealth/data/benchmark_v5.json at main</html>", encoding="utf-8")
    with pytest.raises(DataError, match=r"malformed JSON.*HTML page.*raw\.githubusercontent\.com"):
        LongHealthT1(PROFILES["paper"]).load(tmp_path)
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(benchmark()).encode())  # a byte-order mark is accepted
    assert len(LongHealthT1(PROFILES["paper"]).load(tmp_path).samples) == 4 * lh.REPEATS


def test_correct_matching_no_option_is_a_data_error(tmp_path):
    data = benchmark()
    data["patient_03"]["questions"][0]["correct"] = "Insulin"
    for cls in (LongHealthT1, LongHealthT2, LongHealthT3):
        with pytest.raises(DataError, match=r"patient 'patient_03', question 3: field 'correct' \('Insulin'\)"):
            cls(PROFILES["paper"]).load(write(tmp_path, data))


def test_canary_string_is_optional(data_dir):
    t = task(LongHealthT1, data_dir)
    assert len(t.loaded.samples) == 4 * lh.REPEATS  # patient_01 has it, the others do not


def test_file_is_read_once_for_all_three_tasks_and_again_when_it_changes(data_dir, monkeypatch):
    reads: list[Path] = []
    parse = longhealth_data._parse
    monkeypatch.setattr(longhealth_data, "_parse", lambda path: reads.append(path) or parse(path))
    monkeypatch.setattr(longhealth_data, "_cache", {})
    for cls in (LongHealthT1, LongHealthT2, LongHealthT3, LongHealthT1):
        cls(PROFILES["head"]).load(data_dir)
    assert len(reads) == 1
    path = data_dir / lh.DATA_PATH
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    LongHealthT2(PROFILES["head"]).load(data_dir)
    assert len(reads) == 2


# -- ids, counts, references -------------------------------------------------------------------


def test_ids_and_counts(data_dir):
    for cls in (LongHealthT1, LongHealthT2, LongHealthT3):
        t = task(cls, data_dir)
        ids = [s.id for s in t.loaded.samples]
        assert len(ids) == len(set(ids)) == 4 * 5
        assert ids[:6] == [*(f"patient_01/q01/r{r}" for r in range(5)), "patient_01/q02/r0"]
        assert "patient_02/q07/r4" in ids and "patient_03/q03/r2" in ids
        assert t.loaded.samples[0].test_id == f"{t.name}:patient_01/q01/r0"
        assert t.loaded.shots == () and t.level == 2 and t.data_path == "LongHealth/benchmark_v5.json"
    assert (LongHealthT1.title, LongHealthT2.name, LongHealthT3.name) == (
        "LongHealth task 1", "longhealth-t2", "longhealth-t3")


def test_references(data_dir):
    t1, t2, t3 = (task(c, data_dir, PROFILES["paper"]) for c in (LongHealthT1, LongHealthT2, LongHealthT3))
    assert sample(t1, "patient_01/q01/r3").reference == "B"
    assert sample(t2, "patient_03/q03/r0").reference == "E"
    assert {s.reference for s in t3.loaded.samples} == {"F"}


def test_failure_focus_shows_the_question_and_every_option(data_dir):
    # The prompt's tail is CLUE's answer-format text: a failing sample must still show what was asked.
    t1, t2 = task(LongHealthT1, data_dir), task(LongHealthT2, data_dir)
    focus1 = t1.focus(sample(t1, "patient_01/q01/r3"))
    focus2 = t2.focus(sample(t2, "patient_01/q01/r3"))
    assert focus1.splitlines()[1].startswith("A: ") and focus1.splitlines()[-1].startswith("E: ")
    assert focus2.splitlines()[0] == focus1.splitlines()[0]  # the question text
    assert focus2.splitlines()[-1] == "F: Question cannot be answered with provided documents"


def test_ground_truth_first_vs_last_match(data_dir):
    q = longhealth_data.Question(2, "?", (("answer_a", "x"), ("answer_b", "chest pain"), ("answer_c", "y"),
                             ("answer_d", "pain in the back"), ("answer_e", "z")), "pain", ())
    assert ground_truth(q, with_f=False, match="first") == "B"
    assert ground_truth(q, with_f=False, match="last") == "D"
    # Tasks 2/3 walk option F too (CLUE added answer_f first): last match can land on F.
    q_doc = dataclasses.replace(q, correct="documents", options=(*q.options[:2], ("answer_c", "documents lost"),
                                                                 *q.options[3:]))
    assert ground_truth(q_doc, with_f=True, match="last") == "F"
    assert ground_truth(q_doc, with_f=True, match="first") == "C"
    assert ground_truth(q_doc, with_f=False, match="last") == "C"
    assert ground_truth(dataclasses.replace(q, correct="absent"), with_f=True, match="last") is None


def test_ground_truth_profiles_through_the_task(data_dir):
    # patient_01 q2: correct "pain" is in C "Chest pain" only ("Pain in the back" is capitalised).
    assert sample(task(LongHealthT1, data_dir, PROFILES["paper"]), "patient_01/q02/r0").reference == "C"
    data = benchmark()
    data["patient_01"]["questions"][1]["answer_d"] = "pain in the back"
    d = write(data_dir, data)
    longhealth_data._cache.clear()
    assert sample(task(LongHealthT1, d, PROFILES["paper"]), "patient_01/q02/r0").reference == "D"  # last
    assert sample(task(LongHealthT1, d, PROFILES["head"]), "patient_01/q02/r0").reference == "C"  # first


# -- parsing and scoring -----------------------------------------------------------------------


def test_strict_parser():
    assert strict_letter("The correct answer is C: Chest pain.") == "C"
    assert strict_letter("x The correct answer is B: a. The correct answer is C: b") == "B"  # first match
    for rejected in ("The correct answer is: C", "The correct answer is **C**:", "The correct answer is C.",
                     "Answer: C", "the correct answer is C: x", "The correct answer is CC: x"):
        assert strict_letter(rejected) is None, rejected
    assert strict_letter("The correct answer is c: chest pain") == "c"


@pytest.mark.parametrize("response, letters, expected", [
    ("The correct answer is C: Chest pain", "ABCDE", ("C", "CLUE's 'The correct answer is X:'")),
    ("The correct answer is: C", "ABCDE", ("C", "'correct answer is' + letter")),
    ("The correct answer is **C**: Chest pain", "ABCDE", ("C", "'correct answer is' + letter")),
    ("The correct answer is C.", "ABCDE", ("C", "'correct answer is' + letter")),
    ("The correct answer is option D", "ABCDE", ("D", "'correct answer is' + letter")),
    ("The correct answer is c: chest pain", "ABCDE", ("C", "'correct answer is' + letter")),
    ("Answer: C", "ABCDE", ("C", "'Answer: X'")),
    ("answer: **E**", "ABCDE", ("E", "'Answer: X'")),
    ("**C**: Chest pain", "ABCDE", ("C", "a leading letter")),
    ("C. Chest pain", "ABCDE", ("C", "a leading letter")),
    ("(B)", "ABCDE", ("B", "a leading letter")),
    ("**Answer:** C", "ABCDE", ("C", "'Answer: X'")),
    ("**Answer**: _D_", "ABCDE", ("D", "'Answer: X'")),
    ("**The correct answer is:** C: Chest pain", "ABCDE", ("C", "'correct answer is' + letter")),
    ("**The correct answer is** E", "ABCDE", ("E", "'correct answer is' + letter")),
    ("The correct answer is a combination of drugs", "ABCDE", (None, "none")),
    ("**The correct answer is** a combination", "ABCDE", (None, "none")),
    ("A patient with chest pain", "ABCDE", (None, "none")),
    ("The correct answer is F: Question cannot be answered", "ABCDE", (None, "none")),  # no F in task 1
    ("The correct answer is F: Question cannot be answered", "ABCDEF", ("F", "CLUE's 'The correct answer is X:'")),
    ("I am not sure.", "ABCDEF", (None, "none")),
])
def test_lenient_parser(response, letters, expected):
    assert lenient_letter(response, letters) == expected


def test_scoring_task1(data_dir):
    t = task(LongHealthT1, data_dir)
    s = sample(t, "patient_01/q01/r0")  # ground truth B
    ok = t.score(s, "The correct answer is B: Rituximab.", {})
    assert ok.passed and ok.metrics == {"accuracy": 1.0, "accuracy_lenient": 1.0, "parsed": 1.0}
    assert ok.details == {"parsed": "B", "ground_truth": "B", "lenient": "B",
                          "lenient_form": "CLUE's 'The correct answer is X:'", "abstained": False,
                          "stated": ["B"], "says_unanswerable": False}
    wrong = t.score(s, "The correct answer is A: Aspirin.", {})
    assert not wrong.passed and wrong.metrics["parsed"] == 1.0 and "parsed 'A', ground truth B" in wrong.reason
    lower = t.score(s, "The correct answer is b: Rituximab.", {})
    assert not lower.passed and lower.details["parsed"] == "b" and lower.metrics["accuracy_lenient"] == 1.0
    loose = t.score(s, "The correct answer is: B", {})
    assert not loose.passed and loose.metrics == {"accuracy": 0.0, "accuracy_lenient": 1.0, "parsed": 0.0}
    assert "no 'The correct answer is X:'" in loose.reason and "lenient parser found B" in loose.reason
    nothing = t.score(s, "Hmm.", {})
    assert "found no letter either" in nothing.reason and nothing.metrics["accuracy_lenient"] == 0.0


def test_scoring_tasks2_and_3(data_dir):
    t2, t3 = task(LongHealthT2, data_dir), task(LongHealthT3, data_dir)
    s2, s3 = sample(t2, "patient_01/q01/r0"), sample(t3, "patient_01/q01/r0")
    f = "The correct answer is F: Question cannot be answered with provided documents"
    assert t3.score(s3, f, {}).passed
    assert not t3.score(s3, "The correct answer is B: Rituximab", {}).passed
    no_parse = t3.score(s3, "Nothing here.", {})
    assert not no_parse.passed and no_parse.metrics["parsed"] == 0.0
    f_on_t2 = t2.score(s2, f, {})
    assert not f_on_t2.passed and "the documents do answer it" in f_on_t2.reason
    assert t2.score(s2, "The correct answer is B: Rituximab", {}).passed
    # LongHealth issue #2: a letter, then "the documents do not mention it". Strict: wrong; lenient: F.
    issue2 = "The correct answer is B: Rituximab. However, the documents do not mention any drug."
    r = t3.score(s3, issue2, {})
    assert r.metrics == {"accuracy": 0.0, "accuracy_lenient": 1.0, "parsed": 1.0} and r.details["abstained"]
    assert "also says the documents do not answer it" in r.reason
    # On task 2 a stated abstention is no answer, but it does not take away a correct letter.
    assert t2.score(s2, issue2, {}).metrics["accuracy_lenient"] == 1.0
    abstain_only = t3.score(s3, "This question cannot be answered from the letters.", {})
    assert abstain_only.details["lenient"] == "F" and abstain_only.metrics["accuracy_lenient"] == 1.0


@given(st.text(max_size=60), st.text(alphabet=st.characters(categories=["L", "Nd"]), min_size=1, max_size=1),
       st.text(max_size=60), st.sampled_from(["", " The correct answer is A: x"]))
def test_strict_parser_takes_the_first_exact_phrase(before, letter, after, later):
    """Whatever surrounds it, the first "The correct answer is X:" gives X, case kept; the variants CLUE
    rejects give nothing."""
    assume(strict_letter(before) is None)
    assert strict_letter(f"{before}The correct answer is {letter}:{after}{later}") == letter
    assume(strict_letter(after) is None)
    for variant in (f"The correct answer is: {letter}", f"The correct answer is **{letter}**:",
                    f"The correct answer is {letter}.", f"Answer: {letter}", f"the correct answer is {letter}:"):
        assert strict_letter(before + variant + after) is None, variant


@given(st.text(max_size=80), st.sampled_from("ABCDEF"), st.sampled_from(["ABCDE", "ABCDEF"]))
def test_lenient_never_below_strict(response, gold, letters):
    strict_ok = strict_letter(response) == gold
    letter, _ = lenient_letter(response, letters)
    assert not strict_ok or gold not in letters or letter == gold


# -- packing -----------------------------------------------------------------------------------


def test_pack_budget_arithmetic():
    c = WordCounter()
    sep = c.count(TEXTS["counted_separator"])
    assert sep == 5  # "-------------- NEW DOCUMENT --------------" + BOS: counted, but not what is inserted
    fixed = ("q q", "o")  # 3 + 2 = 5
    a1, a2, o1, o2 = words("a1", 4), words("a2", 10), words("o1", 3), words("o2", 7)  # 5, 11, 4, 8 tokens
    # a1 fits (5+5=10 → used 15); a2 overflows: cut to 20-15 = 5 tokens (BOS + 4 words); stop; o1 → "".
    p = pack(c, 20, fixed, [a1, a2], [o1, o2])
    assert p.documents == (a1, words("a2", 4), "") and p.cut == (1, 2) and p.used == 20
    # Everything up to o1 fits exactly (31 + 4 = 35 → used 40 > 35): o2 is cut to max(35-40, 0) = 0 → "".
    p = pack(c, 35, fixed, [a1, a2], [o1, o2])
    assert p.documents == (a1, a2, o1, "") and p.cut == (3,)
    # o1 overflows by one: cut to 34 - 31 = 3 tokens (2 words); o2 never looked at.
    p = pack(c, 34, fixed, [a1, a2], [o1, o2])
    assert p.documents == (a1, a2, words("o1", 2)) and p.cut == (2,)
    # a2 fits exactly (15 + 11 = 26) but its separator pushes used to 31 > 26: o1 becomes "".
    p = pack(c, 26, fixed, [a1, a2], [o1, o2])
    assert p.documents == (a1, a2, "") and p.used == 26
    # All fit: answer documents first, then the others, in order; no cut.
    p = pack(c, 1000, fixed, [a2, a1], [o1, o2])
    assert p.documents == (a2, a1, o1, o2) and p.cut == () and p.used == 5 + 11 + 5 + 8 + 4 * 5 + 4
    # The fixed pieces alone exceed the budget: every first document of a group is "".
    assert pack(c, 3, fixed, [a1], [o1]).documents == ("", "")


@given(
    question_words=st.integers(0, 30), option_words=st.integers(0, 30),
    answer=st.lists(st.integers(0, 60), max_size=4), other=st.lists(st.integers(0, 60), max_size=8),
    budget=st.integers(0, 600),
)
def test_packed_prompt_stays_within_budget(question_words, option_words, answer, other, budget):
    """By the stub's count, the prompt CLUE packs never exceeds the budget (its quirks only over-count),
    unless the fixed pieces alone already do; CLUE's own running count overshoots by at most one separator."""
    c = WordCounter()
    q, opts = words("Q", question_words), words("O", option_words)
    answer_docs = [words(f"A{i}", n) for i, n in enumerate(answer)]
    other_docs = [words(f"X{i}", n) for i, n in enumerate(other)]
    fixed = c.count(q) + c.count(opts) + c.count(TEMPLATE)
    p = pack(c, budget, (q, opts, TEMPLATE), answer_docs, other_docs)
    user = TEMPLATE.format(documents=SEP.join(p.documents), question_text=q, options=opts)
    assert c.count(user) <= max(budget, fixed)
    if fixed <= budget:
        assert p.used <= budget + c.count(TEXTS["counted_separator"])
    whole = [*answer_docs, *other_docs]
    first_cut = p.cut[0] if p.cut else len(p.documents)
    assert list(p.documents[:first_cut]) == whole[:first_cut]  # in order, answer documents first
    assert len(p.cut) <= 2 and (not p.cut or all(d == "" for d in p.documents[p.cut[0] + 1:]))


def test_task1_prompt_packs_answer_docs_first(data_dir):
    c = WordCounter()
    t = task(LongHealthT1, data_dir, budgeted(budget=8140), c)
    s = sample(t, "patient_01/q01/r0")
    prompt = t.prompt(s, ())
    assert [m.role for m in prompt.messages] == ["system", "user"] and prompt.messages[0].content == SYS
    assert prompt.max_new_tokens == 50 and prompt.assistant_prefix == "" and rendering_spec(t).truncate_reserve == 50
    docs = documents(prompt)
    assert sorted(map(marker, docs)) == [f"DOC-patient_01-t{i}" for i in range(6)]  # all fit
    user = prompt.messages[1].content
    assert "NEW DOCUMENT" not in user and user.count(SEP) == 5
    assert "Which drug was given in case 1?\nA: Aspirin\nB: Rituximab" in user and "\nF: " not in user

    # Budget: text_2 (first answer doc) fits, text_0 (second) gets 3 tokens, then the first other doc is "".
    text = benchmark()["patient_01"]["texts"]
    options = t.options_text(t._benchmark.patients["patient_01"].questions[1])
    fixed = c.count("Which drug was given in case 1?") + c.count(options) + c.count(TEMPLATE)
    sep = c.count(TEXTS["counted_separator"])
    budget = c.count(SYS) + fixed + c.count(text["text_2"]) + sep + 3
    t = task(LongHealthT1, data_dir, budgeted(budget=budget))
    docs = documents(t.prompt(s, ()))
    assert sorted(docs) == sorted([text["text_2"], words("DOC-patient_01-t0", 2), ""])


def test_tasks2_and_3_draw_foreign_documents(data_dir):
    t2, t3 = task(LongHealthT2, data_dir), task(LongHealthT3, data_dir)
    s = "patient_01/q01/r0"
    d2, d3 = documents(t2.prompt(sample(t2, s), ())), documents(t3.prompt(sample(t3, s), ()))
    own2 = [marker(d) for d in d2 if "patient_01" in d]
    assert sorted(own2) == ["DOC-patient_01-t0", "DOC-patient_01-t2"] and len(d2) == 12
    assert len(d3) == 10 and not any("patient_01" in d for d in d3)
    assert len({marker(d) for d in d3}) == 10  # without replacement
    assert set(map(marker, d3)) != {marker(d) for d in d2 if "patient_01" not in d}  # independent draws
    user = t3.prompt(sample(t3, s), ()).messages[1].content
    assert "\nF: Question cannot be answered with provided documents\n" in user
    assert rendering_spec(t2).truncate_reserve is None and not rendering_spec(t2).model_stop_sequences
    assert rendering_spec(LongHealthT1(t2.profile)).model_stop_sequences  # CLUE sent its stop strings in the task 1 loop only


def test_head_profile_uses_the_model_window_for_tasks_2_and_3(data_dir):
    t2 = task(LongHealthT2, data_dir, PROFILES["head"])
    with pytest.raises(TokenizerUnavailable, match="whole context window"):
        t2.prompt(sample(t2, "patient_01/q01/r0"), ())
    t2 = task(LongHealthT2, data_dir, PROFILES["head"], window=100_000)
    assert len(documents(t2.prompt(sample(t2, "patient_01/q01/r0"), ()))) == 12
    t1 = task(LongHealthT1, data_dir, PROFILES["head"])  # task 1 keeps 8140; no window needed
    assert rendering_spec(t1).truncate_reserve is None  # head: no TGI truncation


def test_missing_counter_is_a_clear_error(data_dir):
    t = LongHealthT1(PROFILES["paper"])
    loaded = t.load(data_dir)
    with pytest.raises(TokenizerUnavailable, match="use_token_counter"):
        t.prompt(loaded.samples[0], ())


# -- determinism and laziness ------------------------------------------------------------------


def prompt_text(cls: type, data_dir: Path, sample_id: str) -> str:
    t = task(cls, data_dir)
    return t.prompt(sample(t, sample_id), ()).messages[1].content


def test_prompts_are_deterministic(data_dir):
    for cls in (LongHealthT1, LongHealthT2, LongHealthT3):
        t = task(cls, data_dir)
        samples = t.loaded.samples
        forward = [t.prompt(s, ()).messages[1].content for s in samples]
        backward = [task(cls, data_dir).prompt(s, ()).messages[1].content for s in reversed(samples)][::-1]
        assert forward == backward  # same prompt twice, in any order, from fresh instances
        repeats = forward[:5]  # patient_01 q01 r0..r4
        assert len(set(repeats)) > 1  # repeats shuffle (and for tasks 2/3 draw) differently
    t1 = task(LongHealthT1, data_dir)
    repeats = [sorted(documents(t1.prompt(s, ()))) for s in t1.loaded.samples[:5]]
    assert all(r == repeats[0] for r in repeats)  # task 1 repeats differ only in order


def test_prompts_do_not_depend_on_the_process(data_dir):
    code = ("import sys; sys.path.insert(0, sys.argv[2]); import test_longhealth as m; from pathlib import Path; "
            "print(m.prompt_text(m.LongHealthT2, Path(sys.argv[1]), 'patient_02/q07/r3'), end='')")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code, str(data_dir), str(Path(__file__).parent)], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out == prompt_text(LongHealthT2, data_dir, "patient_02/q07/r3")


def test_loading_builds_no_prompts(data_dir):
    made: list[WordCounter] = []

    def factory() -> WordCounter:
        made.append(WordCounter())
        return made[-1]

    t = LongHealthT2(PROFILES["paper"])
    t.use_token_counter(factory)
    loaded = t.load(data_dir)
    assert made == []  # no tokenizer touched: no prompt was built
    assert all(set(s.record) == {"patient", "question", "repeat"} for s in loaded.samples)  # no text in samples
    t.prompt(loaded.samples[0], ())
    t.prompt(loaded.samples[1], ())
    assert len(made) == 1 and made[0].calls > 0  # built on the first prompt, then reused


# -- real tokenizers ---------------------------------------------------------------------------


needs_baseline_tokenizer = pytest.mark.skipif(not (BASELINE_TOKENIZER / "tokenizer.json").is_file(),
                                              reason="clue_checks/server/baseline_tokenizer is not present")


@pytest.fixture(scope="module")
def baseline_tokenizer() -> Any:
    from clue_checks.rendering import load_tokenizer

    return load_tokenizer(str(BASELINE_TOKENIZER))


@needs_baseline_tokenizer
def test_local_counter_on_the_baseline_tokenizer(baseline_tokenizer, data_dir):
    c = LocalTokenCounter(baseline_tokenizer)
    text = "The patient was admitted with chest pain and treated with rituximab for lymphoma"
    ids = baseline_tokenizer.encode(text)
    assert c.count(text) == len(ids) and c.count(text) == c.count(text)
    assert c.head(text, 0) == "" and c.head(text, -3) == "" and c.head(text, len(ids)) == text
    for n in range(1, len(ids)):
        head = c.head(text, n)
        assert text.startswith(head) and c.count(head) <= n
    t = task(LongHealthT1, data_dir, budgeted(budget=700), c)
    prompt = t.prompt(sample(t, "patient_01/q01/r0"), ())
    docs = documents(prompt)
    assert 0 < len(docs) < 6  # the budget cuts
    assert c.count(prompt.messages[1].content) <= t.budget(c)


@needs_baseline_tokenizer
def test_endpoint_counter_matches_the_local_one_on_the_baseline_server(baseline_tokenizer):
    from clue_checks.endpoint.scheduler import Scheduler
    from clue_checks.endpoint.store import NullStore
    from clue_checks.server.baseline import BaselineServer

    local = LocalTokenCounter(baseline_tokenizer)
    with BaselineServer() as server:
        scheduler = Scheduler([server.url], NullStore())
        try:
            scheduler.start()
            remote = EndpointTokenCounter(scheduler.tokenize_offsets)
            for text in ("chest pain", "Größe 1,80 m; 日本語 text\n\nwith  spaces", SYS):
                assert remote.count(text) == local.count(text)
                for n in range(remote.count(text) + 1):
                    cut = remote.head(text, n)
                    assert text.startswith(cut)
                    if text.isascii():  # a token ending inside a character decodes locally to "\ufffd"
                        assert cut.rstrip() == local.head(text, n).rstrip()
        finally:
            scheduler.close()


def test_endpoint_counter_without_offsets_fails_once_with_advice():
    asked: list[str] = []
    c = EndpointTokenCounter(lambda text: asked.append(text) or None)
    for _ in range(2):
        with pytest.raises(TokenizerUnavailable) as caught:
            c.count("chest pain")
        assert str(caught.value) == NO_OFFSETS
    assert asked == ["chest pain"]


def test_endpoint_counter_cuts_at_token_ends():
    c = EndpointTokenCounter(lambda text: [(0, 0), (0, 5), (6, 10), (10, 10)])  # BOS, chest, pain, zero-width
    assert c.count("chest pain") == 4  # BOS and a zero-width token are counted
    assert [c.head("chest pain", n) for n in range(5)] == ["", "", "chest", "chest pain", "chest pain"]


# -- runner wiring -----------------------------------------------------------------------------


def settings(url: str, tmp_path: Path, tokenizer: str | None = None) -> Any:
    from clue_checks.settings import Settings

    return Settings(endpoints=(url,), api="chat", model_name=None, tokenizer=tokenizer, data_dir=tmp_path,
                    tasks=(), limit=None, concurrency=None, cache_dir=None, refresh=False, report_dir=tmp_path,
                    thresholds=None, profile="paper", exit_mode="pytest", request_timeout=30.0, api_key=None)


@needs_baseline_tokenizer
def test_runner_counts_longhealth_tokens_with_the_endpoints_tokenize_first(data_dir, baseline_tokenizer):
    from clue_checks.runner import Run
    from clue_checks.server.baseline import BaselineServer

    with BaselineServer() as server:
        run = Run(settings(server.url, data_dir))
        run.tasks = {name: cls(run.profile) for name, cls in
                     (("longhealth-t1", LongHealthT1), ("longhealth-t3", LongHealthT3))}
        try:
            run.connect([server.url])
            t1, t3 = run.tasks["longhealth-t1"], run.tasks["longhealth-t3"]
            # The baseline has /tokenize with offsets: the served model's own counts win over a local tokenizer.
            assert isinstance(t1.counter(), EndpointTokenCounter) and t1.counter() is t3.counter()  # one shared
            text = "Chest pain since 2019; troponin 0.04 ng/ml."
            assert t1.counter().count(text) == LocalTokenCounter(baseline_tokenizer).count(text)  # same tokenizer
            assert t3._window == run.info.max_total_tokens
            run.load("longhealth-t1")
            prompt, request = run.request_for(run.samples("longhealth-t1")[0])
            assert request.mode == "chat" and len(documents(prompt)) == 6
        finally:
            run.close()


@needs_baseline_tokenizer
def test_runner_falls_back_to_the_local_tokenizer_when_the_endpoint_has_no_tokenize(data_dir):
    from fakes import FakeServer

    from clue_checks.runner import Run

    info = {"model_id": "m", "router": "text-generation-router", "max_total_tokens": 8192, "max_input_tokens": 8191}

    def handler(method: str, path: str, body: Any, count: int) -> Any:
        table = {"/health": (200, {}, b""), "/info": (200, {}, info),
                 "/tokenize": (404, {}, {"error": "No fast tokenizer available", "error_type": "tokenizer"}),
                 "/v1/models": (200, {}, {"object": "list", "data": [{"id": "m", "object": "model"}]})}
        return table.get(path, (404, {}, b""))

    with FakeServer(handler) as server:
        run = Run(settings(server.url, data_dir, tokenizer=str(BASELINE_TOKENIZER)))
        run.tasks = {"longhealth-t1": LongHealthT1(run.profile)}
        try:
            run.connect([server.url])
            assert isinstance(run.tasks["longhealth-t1"].counter(), LocalTokenCounter)
            assert server.count("/tokenize") == 1  # asked once, then the local tokenizer
            run.load("longhealth-t1")
            prompt, _ = run.request_for(run.samples("longhealth-t1")[0])
            assert len(documents(prompt)) > 0  # packed with the local counts
        finally:
            run.close()


def test_runner_without_tokenizer_or_offsets_fails_only_longhealth_prompts(data_dir):
    from fakes import FakeServer

    from clue_checks.runner import Run

    info = {"model_id": "m", "router": "text-generation-router", "max_total_tokens": 8192, "max_input_tokens": 8191}

    def handler(method: str, path: str, body: Any, count: int) -> Any:
        table = {"/health": (200, {}, b""), "/info": (200, {}, info),
                 "/v1/models": (200, {}, {"object": "list", "data": [{"id": "m", "object": "model"}]})}
        return table.get(path, (404, {}, b""))

    with FakeServer(handler) as server:
        run = Run(settings(server.url, data_dir))
        run.tasks = {"longhealth-t1": LongHealthT1(run.profile)}
        try:
            run.connect([server.url])
            run.load("longhealth-t1")
            assert server.count("/tokenize") == 0  # nothing asked until a prompt is built
            with pytest.raises(TokenizerUnavailable) as caught:
                run.request_for(run.samples("longhealth-t1")[0])
            assert str(caught.value) == NO_OFFSETS
        finally:
            run.close()
