"""LongHealth's data: the benchmark file parsed once per process, and each question's ground-truth letter
(docs/clue-faithfulness.md#longhealth)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clue_checks.data.errors import DataError
from clue_checks.data.readers import read_text, require_file
from clue_checks.tasks.base import clue_prompts

OPTION_KEYS = ("answer_a", "answer_b", "answer_c", "answer_d", "answer_e")


@dataclass(frozen=True)
class Question:
    no: int
    text: str
    options: tuple[tuple[str, str], ...]  # (answer_a…answer_e, text) in the file's key order
    correct: str  # the full text of the correct option, not a letter
    answer_docs: tuple[str, ...]  # text ids from answer_location, in key order


@dataclass(frozen=True)
class Patient:
    id: str
    texts: Mapping[str, str]  # text id → document, in file order
    questions: Mapping[int, Question]  # by "No", in file order


@dataclass(frozen=True)
class Benchmark:
    path: Path
    patients: Mapping[str, Patient]  # in file order
    # Every text of every patient, in file order, and each patient's [start, end) slice of it:
    # the population task 2/3 prompts draw foreign texts from.
    all_texts: tuple[tuple[str, str], ...]
    slices: Mapping[str, tuple[int, int]]


_cache: dict[Path, tuple[tuple[int, int], Benchmark]] = {}
_cache_lock = threading.Lock()


def load_benchmark(path: Path) -> Benchmark:
    """The parsed file, read once per process for all three tasks (re-read if it changes on disk)."""
    require_file(path)
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    key = path.resolve()
    with _cache_lock:  # held while parsing: three tasks loading at once still read the file once
        hit = _cache.get(key)
        if hit is None or hit[0] != stamp:
            hit = (stamp, _parse(path))
            _cache[key] = hit
        return hit[1]


def _parse(path: Path) -> Benchmark:
    text = read_text(path)  # names the line of a byte that is not UTF-8; a byte-order mark is accepted
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # CLUE's scripts/download_datasets.sh fetched a github.com /blob/ page (HTML), not the file.
        hint = ("this is an HTML page, not the JSON file: download the raw file (raw.githubusercontent.com), "
                "not a github.com/…/blob/ page") if text.lstrip()[:1] == "<" else None
        raise DataError(path, f"malformed JSON: {exc.msg}", where=f"line {exc.lineno} column {exc.colno}",
                        hint=hint) from None
    if not isinstance(data, dict) or not data:
        raise DataError(path, "expected a JSON object keyed by patient id (\"patient_01\", …)")
    patients: dict[str, Patient] = {}
    all_texts: list[tuple[str, str]] = []
    slices: dict[str, tuple[int, int]] = {}
    for pid, record in data.items():
        patient = _patient(path, pid, record)
        patients[pid] = patient
        slices[pid] = (len(all_texts), len(all_texts) + len(patient.texts))
        all_texts.extend((pid, tid) for tid in patient.texts)
    return Benchmark(path, patients, tuple(all_texts), slices)


def _require(path: Path, where: str, record: Mapping[str, Any], name: str, kind: type | tuple[type, ...],
             what: str) -> Any:
    if name not in record:
        present = ", ".join(sorted(map(str, record))) or "none"
        raise DataError(path, f"missing field {name!r} (fields present: {present})", where=where)
    value = record[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise DataError(path, f"field {name!r} must be {what}, got {type(value).__name__}", where=where)
    return value


def _patient(path: Path, pid: str, record: Any) -> Patient:
    where = f"patient {pid!r}"
    if not isinstance(record, dict):
        raise DataError(path, "each patient must be a JSON object", where=where)
    # `canaray-string` (sic), name, birthday and diagnosis are not needed and not required.
    texts = _require(path, where, record, "texts", dict, "an object of text id → document")
    if not texts:
        raise DataError(path, "field 'texts' is empty", where=where)
    for tid, text in texts.items():
        if not isinstance(text, str):
            raise DataError(path, f"field 'texts' entry {tid!r} must be text, got {type(text).__name__}", where=where)
    questions: dict[int, Question] = {}
    for position, raw in enumerate(_require(path, where, record, "questions", list, "a list"), start=1):
        question = _question(path, pid, position, raw, texts)
        if question.no in questions:
            raise DataError(path, f"question number {question.no} appears twice", where=where)
        questions[question.no] = question
    return Patient(pid, texts, questions)


def _question(path: Path, pid: str, position: int, raw: Any, texts: Mapping[str, str]) -> Question:
    where = f"patient {pid!r}, question #{position} in the list"
    if not isinstance(raw, dict):
        raise DataError(path, "each question must be a JSON object", where=where)
    no = _require(path, where, raw, "No", (int, str), "a question number")
    try:
        no = int(no)
    except ValueError:
        raise DataError(path, f"field 'No' must be a question number, got {no!r}", where=where) from None
    where = f"patient {pid!r}, question {no}"
    text = _require(path, where, raw, "question", str, "text")
    for key in OPTION_KEYS:
        _require(path, where, raw, key, str, "text")
    correct = _require(path, where, raw, "correct", str, "text (the correct option's text)")
    if not correct:
        raise DataError(path, "field 'correct' is empty (it would match every option)", where=where)
    location = _require(path, where, raw, "answer_location", dict, "an object keyed by text id")
    for tid in location:
        if tid not in texts:
            raise DataError(path, f"field 'answer_location' names {tid!r}, which is not in the patient's texts "
                                  f"({', '.join(texts)})", where=where)
    options = tuple((key, raw[key]) for key in raw if key in OPTION_KEYS)  # file key order, as CLUE walked it
    return Question(no, text, options, correct, tuple(location))


def ground_truth(question: Question, *, with_f: bool, match: str) -> str | None:
    """The letter of the option whose text contains `correct`; first or last match; None if none."""
    keys = [key for key, text in question.options if question.correct in text]
    if with_f and question.correct in clue_prompts()["longhealth"]["option_f"]:
        keys.append("answer_f")
    if not keys:
        return None
    return (keys[0] if match == "first" else keys[-1])[-1].upper()
