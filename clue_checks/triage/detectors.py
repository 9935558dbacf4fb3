"""One small pure detector per failure kind (definitions in `kinds.py`): Evidence -> bool.

A detector is only asked on the tasks its kind is looked for on, and reads the task's details defensively (a
missing key means "not seen"). Detectors never look at anything but the Evidence, and at what the task is
(`Evidence.reader`: how its answers are read), never at its name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from clue_checks.metrics.icd10 import is_code_increment
from clue_checks.metrics.rouge import ROUGE_TYPES
from clue_checks.triage.evidence import Evidence
from clue_checks.triage.kinds import LOW_OVERLAP_ROUGE_L, REPEAT_LINES, REPEAT_TIMES, REPEAT_WORDS

_WORD = re.compile(r"\w+")


def _has_response(e: Evidence) -> bool:
    return e.error is None and e.response is not None and bool(e.response.strip())


def endpoint_error(e: Evidence) -> bool:
    return e.error is not None


def empty(e: Evidence) -> bool:
    return e.error is None and not (e.response or "").strip()


def truncated(e: Evidence) -> bool:
    return e.error is None and e.finish_reason == "length"


def repeats_itself(text: str, words: int = REPEAT_WORDS, times: int = REPEAT_TIMES,
                   lines: int = REPEAT_LINES) -> bool:
    """`words` consecutive words (case-folded) occurring `times` times without overlap, or a non-blank line
    (stripped) occurring `lines` times. Linear in the text's length."""
    seen_lines: dict[str, int] = {}
    for line in text.splitlines():
        line = line.strip()
        if line:
            seen_lines[line] = seen_lines.get(line, 0) + 1
            if seen_lines[line] >= lines:
                return True
    tokens = [w.casefold() for w in _WORD.findall(text)]
    counts: dict[tuple[str, ...], int] = {}
    free_from: dict[tuple[str, ...], int] = {}  # where the next non-overlapping occurrence may start
    for i in range(len(tokens) - words + 1):
        gram = tuple(tokens[i:i + words])
        if i >= free_from.get(gram, 0):
            counts[gram] = counts.get(gram, 0) + 1
            free_from[gram] = i + words
            if counts[gram] >= times:
                return True
    return False


def repetition_loop(e: Evidence) -> bool:
    return e.error is None and repeats_itself(e.generated)


# -- answers: what the task read from the response ----------------------------------------------


def _labels_named(e: Evidence) -> Mapping[str, int]:
    return {label: n for label, n in (e.details.get("label_counts") or {}).items() if n}


def _longhealth_parsed_capital(e: Evidence) -> str | None:
    parsed = e.details.get("parsed")
    return parsed if isinstance(parsed, str) and len(parsed) == 1 and "A" <= parsed <= "Z" else None


def answered_letter(e: Evidence) -> str | None:
    """LongHealth: the letter CLUE's pattern read when it is a capital, else the lenient reading (which reads a
    statement that the documents do not answer as F on tasks 2/3), else F for such a statement on task 1."""
    letter = _longhealth_parsed_capital(e) or e.details.get("lenient")
    if letter is None and e.details.get("says_unanswerable"):
        return "F"
    return letter


def format_(e: Evidence) -> bool:
    if not _has_response(e):
        return False  # `empty` says it
    if e.reader == "letters":
        return _longhealth_parsed_capital(e) is None
    if e.reader == "codes":
        return not e.details.get("predicted")
    if e.reader == "labels":
        return not any(n == 1 for n in (e.details.get("label_counts") or {}).values())
    if e.reader == "choices":  # none named; several named is `hedged`
        return not e.details.get("named")
    if e.reader == "regex":
        return e.details.get("parsed_answer") is None
    return False


def hedged(e: Evidence) -> bool:
    if not _has_response(e):
        return False
    if e.reader == "labels":
        return len(_labels_named(e)) >= 2
    if e.reader == "choices":
        return len(e.details.get("named") or ()) >= 2
    return len(set(e.details.get("stated") or ())) >= 2


def out_of_options(e: Evidence) -> bool:
    letter = _longhealth_parsed_capital(e)
    return _has_response(e) and letter is not None and letter not in e.options


def unanswerable_missed(e: Evidence) -> bool:
    letter = answered_letter(e)
    return (_has_response(e) and e.reference == "F" and letter is not None and letter != "F"
            and letter in e.options)


def abstained(e: Evidence) -> bool:
    return _has_response(e) and e.reference not in (None, "F") and answered_letter(e) == "F"


def invalid_code(e: Evidence) -> bool:
    return _has_response(e) and bool(e.details.get("invalid"))


def code_increment(e: Evidence) -> bool:
    if not _has_response(e):
        return False
    gold = set(e.details.get("gold") or ())
    return any(is_code_increment(p, g) for p in set(e.details.get("predicted") or ()) - gold for g in gold)


# The kinds that explain a wrong answer; `wrong_answer` is what is left when none of them does.
_ANSWER_KINDS: tuple[Callable[[Evidence], bool], ...] = (
    format_, hedged, out_of_options, unanswerable_missed, abstained, invalid_code, code_increment)


def wrong_answer(e: Evidence) -> bool:
    return _has_response(e) and not e.passed and not any(detect(e) for detect in _ANSWER_KINDS)


def low_overlap(e: Evidence) -> bool:
    if not _has_response(e):
        return False
    read = ROUGE_TYPES if e.overlap_metrics is None else e.overlap_metrics
    floors = {m: f for m, f in e.floors.items() if m in read}
    if not floors and "rougeL" in read:
        floors = {"rougeL": LOW_OVERLAP_ROUGE_L}
    return any((v := e.metrics.get(m)) is not None and v < f for m, f in floors.items())


DETECTORS: Mapping[str, Callable[[Evidence], bool]] = {
    "endpoint_error": endpoint_error,
    "empty": empty,
    "truncated": truncated,
    "repetition_loop": repetition_loop,
    "format": format_,
    "hedged": hedged,
    "out_of_options": out_of_options,
    "unanswerable_missed": unanswerable_missed,
    "abstained": abstained,
    "invalid_code": invalid_code,
    "code_increment": code_increment,
    "wrong_answer": wrong_answer,
    "low_overlap": low_overlap,
}
