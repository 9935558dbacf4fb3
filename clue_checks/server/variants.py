"""Variants of the embedded baseline model: the default heuristics, and a degraded "fine-tune".

``finetune-degraded`` answers like the default baseline except on a planted share of samples, where it
fails the way CLUE found biomedical fine-tunes fail against their base models (arXiv 2404.04067):

==================  =====================================================  ===========================
kind                what the answer looks like                             share of samples (per task)
==================  =====================================================  ===========================
repetition_loop     the answer's first phrase (up to the first sentence    MedNLI 10 %, MeQSum 35 %,
                    end, comma or semicolon; at most 8 words) over and      Problem Summary 35 %,
                    over until the request's token limit (finish reason     MeDiSumQA 35 %,
                    ``length``): "Sepsis Sepsis Sepsis …"                   MeDiSumCode 10 %
ignored_format      free text without the answer format: no MedNLI label   MedNLI 25 %, LongHealth 15 %
                    ("Yes, the second statement follows …"), no
                    LongHealth letter ("Based on the documents: …")
icd_digits_up       every ICD-10 code's last digit after its category      MeDiSumCode 40 %
                    counted up by one, 9 wrapping to 0, so the code keeps
                    its category and length (E11.9 → E11.0, E78.5 →
                    E78.6, S72.001A → S72.002A; a bare category such as
                    I10 has no such digit and is left as it is)
letter_not_f        a letter A–E (the best-supported option) where the     LongHealth 35 % of the
                    baseline answered F, "cannot be answered" (LongHealth  prompts the baseline
                    task 3's answer, sometimes task 2's)                    answers with F
==================  =====================================================  ===========================

Which samples are hit is decided by a hash of the sample's own content (``sample_key``: the target
sentence pair, inquiry, letter, letter + question, or LongHealth question + options), never by chance:
every run, wire mode and prompt layout hits the same samples. The hash falls in at most one band of a
task's row in ``DEGRADED``, so the shares above are exact for an unbounded number of samples and one
sample fails in one way at most. LongHealth's five repeats of a question share their key (the documents
are not part of it), so a question fails in all its repeats, as a model that does not know it would.
``icd_digits_up`` needs a code with a digit after its category and ``letter_not_f`` a baseline answer F;
where that is missing the sample keeps the default answer and ``planted`` says None.

``planted(variant, task, request)`` tells which failure the server planted in a request, so tests can
check that a comparison's "broke" list is what was planted.

The default variant calls ``heuristics.answer`` exactly as before; this module only reads the
heuristics' helpers, so the default answers, and its ``model_sha``, do not change.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from clue_checks import names
from clue_checks.server import heuristics as h
from clue_checks.server.clinical_text import last_match, strip_markup
from clue_checks.server.icd_codes import ICD_CODE

DEFAULT = names.DEFAULT_VARIANT
FINETUNE_DEGRADED = names.FINETUNE_DEGRADED
VARIANTS = names.BASELINE_VARIANTS

KINDS: Mapping[str, str] = {
    "repetition_loop": "the answer's first sentence repeated until the token limit",
    "ignored_format": "free text without the task's answer format",
    "icd_digits_up": "ICD-10 codes with their last digit after the category counted up",
    "letter_not_f": "an option letter where the answer is F, cannot be answered",
}

# Per heuristics task: (kind, share) bands laid end to end over [0, 1); the sample's hash picks one or none.
DEGRADED: Mapping[str, tuple[tuple[str, float], ...]] = {
    "mednli": (("repetition_loop", 0.10), ("ignored_format", 0.25)),
    "meqsum": (("repetition_loop", 0.35),),
    "problemsummary": (("repetition_loop", 0.35),),
    "medisumqa": (("repetition_loop", 0.35),),
    "medisumcode": (("repetition_loop", 0.10), ("icd_digits_up", 0.40)),
    "longhealth": (("ignored_format", 0.15), ("letter_not_f", 0.35)),
}

LOOP_WORDS = 8  # the repeated phrase: the answer's first phrase, at most this many words
LOOP_WITHOUT_LIMIT = 256  # repetitions when a request sets no token limit

_PHRASE_END = re.compile(r"(?<=[.?!])\s|[,;]\s*")
_LH_ANSWER = re.compile(r"^The correct answer is ([A-F]): (.*)$", re.S)
_NLI_FREE_TEXT = {  # MedNLI answers that keep the judgement but not the label
    "entailment": "Yes, the second statement follows from the first one.",
    "contradiction": "No, the second statement is not compatible with the first one.",
    "neutral": "The first statement does not tell whether the second one is true.",
}


def base_task(task: str) -> str:
    """The heuristics' task name of a CLUE task name ("longhealth-t3" → "longhealth")."""
    return "longhealth" if task.startswith("longhealth") else task


# ---------------------------------------------------------------- which samples


def _flat(text: str) -> str:
    return " ".join(strip_markup(text).split())


def sample_key(task: str, text: str) -> str | None:
    """What identifies the target sample in a request, whatever the layout: None if it cannot be found."""
    if task == "mednli":
        m = last_match(h._NLI, text)
        return _flat(m.group(1)) + "\n" + _flat(m.group(2)) if m else None
    if task == "meqsum":
        m = last_match(h._INQUIRY, text)
        return _flat(m.group(1)) if m else None
    if task in ("problemsummary", "medisumcode"):
        m = last_match(h._LETTER, text)
        return _flat(m.group(1)) if m else None
    if task == "medisumqa":
        m = last_match(h._LETTER, text)
        if m is None:
            return None
        lines = [line.strip() for line in strip_markup(text[m.end():]).splitlines() if line.strip()]
        return _flat(m.group(1)) + "\n" + (lines[0] if lines else "")
    if task == "longhealth":
        m = last_match(h._DOCUMENTS, text)
        if m is None:
            return None
        after = text[m.end():]
        end = after.find("Please answer using the following format")
        return _flat(after[:end] if end >= 0 else after)
    return None


def _share(variant: str, task: str, key: str) -> float:
    """A number in [0, 1) fixed by the sample: the first 8 bytes of a SHA-256."""
    digest = hashlib.sha256(f"{variant}\n{task}\n{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def band(variant: str, task: str, text: str) -> str | None:
    """The failure whose band the sample's hash falls in (before checking the failure applies to it)."""
    if variant == DEFAULT:
        return None
    task = base_task(task)
    key = sample_key(task, text)
    if key is None:
        return None
    share, start = _share(variant, task, key), 0.0
    for kind, width in DEGRADED.get(task, ()):
        if start <= share < start + width:
            return kind
        start += width
    return None


# ---------------------------------------------------------------- how they fail


def _loop(answer: str, max_new_tokens: int | None) -> str:
    """The model stuck on its first phrase from the start: one more repetition than tokens allowed (each
    is at least one token), so the answer always ends at the request's limit."""
    first = _PHRASE_END.split(answer.strip(), maxsplit=1)[0].strip() or h.UNKNOWN_ANSWER
    phrase = " ".join(first.split()[:LOOP_WORDS])
    times = max_new_tokens + 1 if max_new_tokens else LOOP_WITHOUT_LIMIT
    return " ".join([phrase] * times)


def count_up(code: str) -> str:
    """The last digit after the category (the first three characters) plus one, 9 wrapping to 0."""
    for i in range(len(code) - 1, 2, -1):
        if code[i].isdigit():
            return code[:i] + str((int(code[i]) + 1) % 10) + code[i + 1:]
    return code


def _digits_up(answer: str) -> str | None:
    counted = ICD_CODE.sub(lambda m: count_up(m.group(0)), answer)
    return counted if counted != answer else None


def _ignored_format(task: str, answer: str) -> str | None:
    if task == "mednli":
        label = answer.strip().lower()
        return _NLI_FREE_TEXT.get(label)
    found = _LH_ANSWER.match(answer.strip())
    return f"Based on the documents: {found.group(2)}" if found else None


def _letter_not_f(text: str, answer: str) -> str | None:
    found = _LH_ANSWER.match(answer.strip())
    documents = last_match(h._DOCUMENTS, text)
    if not found or found.group(1) != "F" or documents is None:
        return None
    options: dict[str, str] = {}
    for line in text[documents.end():].splitlines():
        if line.startswith("Please answer using the following format"):
            break
        option = h._OPTION.match(line)
        if option and option.group(1) not in options and option.group(1) != "F":
            options[option.group(1)] = option.group(2)
    if not options:
        return None
    letter = h.choose_option(documents.group(1), options)  # no F among them: the best-supported letter
    end = "" if options[letter].endswith((".", "!", "?")) else "."
    return f"The correct answer is {letter}: {options[letter]}{end}"


def degrade(kind: str, task: str, text: str, answer: str, max_new_tokens: int | None) -> str | None:
    """The failed answer, or None where the failure does not apply to this sample."""
    task = base_task(task)
    if kind == "repetition_loop":
        return _loop(answer, max_new_tokens)
    if kind == "ignored_format":
        return _ignored_format(task, answer)
    if kind == "icd_digits_up":
        return _digits_up(answer)
    if kind == "letter_not_f":
        return _letter_not_f(text, answer)
    raise ValueError(f"unknown failure kind {kind!r}")


# ---------------------------------------------------------------- the model


def request_text(request: Any) -> str:
    """The text the server reads: a rendered prompt, chat messages (dicts or Message objects), or a Request."""
    if isinstance(request, str):
        return request
    if getattr(request, "prompt", None) is not None:
        return str(request.prompt)
    messages = getattr(request, "messages", request)
    if isinstance(messages, Sequence):
        dicts = [m if isinstance(m, Mapping) else m.as_dict() for m in messages]
        return h._messages_to_text([dict(m) for m in dicts])
    raise TypeError(f"expected a prompt, chat messages or a Request, got {type(request).__name__}")


def _fail(variant: str, text: str, max_new_tokens: int | None, *, need_answer: bool = True) -> tuple[str, str | None]:
    """(answer, kind planted or None) for a request's text; without `need_answer`, a sample outside every
    band is not answered at all (the answer is "")."""
    task = h.detect_task(text)
    kind = band(variant, task, text) if task else None
    if kind is None:
        return (h.answer(None, text) if need_answer else ""), None
    answer = h.answer(None, text)
    failed = degrade(kind, task, text, answer, max_new_tokens)  # type: ignore[arg-type]
    return (answer, None) if failed is None else (failed, kind)


def answerer(variant: str) -> Callable[[list[dict[str, Any]] | None, str | None, int | None], str]:
    """The model of a variant: (messages, prompt, max_new_tokens) → the text it generates."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown baseline variant {variant!r}; choose one of: {', '.join(VARIANTS)}")
    if variant == DEFAULT:
        return lambda messages, prompt, max_new_tokens: h.answer(messages, prompt)

    def answer(messages: list[dict[str, Any]] | None, prompt: str | None, max_new_tokens: int | None) -> str:
        if prompt is None and not messages:
            return h.UNKNOWN_ANSWER
        text = str(prompt) if prompt is not None else h._messages_to_text(list(messages or []))
        return _fail(variant, text, max_new_tokens)[0]

    return answer


def planted(variant: str, task: str, request: Any) -> str | None:
    """The failure kind the variant's server plants in this request (None: it answers as the default).

    `task` is a CLUE task name ("mednli", "longhealth-t3", …); `request` a rendered prompt, chat messages
    or an `endpoint.types.Request`. Raises ValueError when the request is not a prompt of `task`.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown baseline variant {variant!r}; choose one of: {', '.join(VARIANTS)}")
    text = request_text(request)
    detected = h.detect_task(text)
    if detected != base_task(task):
        raise ValueError(f"not a {task} prompt (it reads as {detected or 'no CLUE task'})")
    if variant == DEFAULT:
        return None
    return _fail(variant, text, 1, need_answer=False)[1]
