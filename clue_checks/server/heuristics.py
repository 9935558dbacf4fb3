"""Answers of the parameterless baseline: cheap, deterministic rules per CLUE task.

Pure functions, no HTTP. The entry point is :func:`answer`, which takes either chat
``messages`` (chat mode) or a ``prompt`` already rendered as text (generate mode) and
returns the text a model would generate.

How the request is read (one code path for every layout):

* Chat messages are rendered with the baseline's own chat template (:func:`render_chat`),
  so chat and generate requests are parsed the same way. A trailing assistant message is a
  prefill, as in generate mode.
* The task is found by searching the text for each task's system prompt from
  ``clue_prompts.json`` (whitespace-normalised, so it is found as a system turn, merged into
  the first user turn as ``SYS\\n\\nU1``, or at the start of a plain transcript). If no system
  prompt is present (e.g. cut off by left truncation), markers of the user templates decide
  (``SENTENCE_1:``, ``PATIENT INQUIRY``, ``BEGIN DOCUMENTS``, the closing instructions).
* The target is the LAST user-template instance in the text: earlier ones are few-shot
  examples. Whatever follows the target's user template, minus chat-template markup, is the
  assistant prefill (e.g. ``"Question: "``). If there is a prefill, only the continuation is
  returned; otherwise the answer is plain. MeDiSumCode answers carry ``"ICD-10 Codes: "``
  when the prefix was not prefilled, like its few-shot answers.
* Anything unrecognised gets :data:`UNKNOWN_ANSWER`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from clue_checks.server.clinical_text import (
    NEGATION_CUES,
    STOPWORDS,
    after_last,
    content_words,
    last_match,
    norm_ws,
    sentences,
    stem,
    strip_markup,
    words_of,
)
from clue_checks.server.icd_codes import icd_vocabulary, match_icd_codes

UNKNOWN_ANSWER = "I don't know."
PROMPTS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "tasks" / "clue_prompts.json").read_text(encoding="utf-8")
)
TASKS = ("mednli", "meqsum", "problemsummary", "longhealth", "medisumqa", "medisumcode")

# Thresholds quoted by the docs; changing one changes the baseline (and /info model_sha).
NLI_ENTAILMENT_OVERLAP = 0.5  # share of hypothesis content words found in the premise
LONGHEALTH_SUPPORT = 0.8  # option coverage by the documents needed to beat option F
# The MeDiSumCode thresholds are in clue_checks.server.icd_codes.


# ---------------------------------------------------------------- chat requests


def _content_to_text(content: Any) -> str:
    """OpenAI content may be a string or a list of {"type": "text", "text": ...} chunks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for chunk in content:
            if isinstance(chunk, dict):
                parts.append(str(chunk.get("text", "")))
            elif isinstance(chunk, str):
                parts.append(chunk)
        return "".join(parts)
    return str(content)


def render_chat(messages: list[dict[str, Any]], add_generation_prompt: bool = True) -> str:
    """The baseline chat template (identical to the Jinja one in ``baseline_tokenizer``)."""
    out = ["<s>"]
    for message in messages:
        out.append(f"<|{message.get('role', 'user')}|>\n{_content_to_text(message.get('content'))}<|end|>\n")
    if add_generation_prompt:
        out.append("<|assistant|>\n")
    return "".join(out)


def _messages_to_text(messages: list[Any]) -> str:
    msgs = [m for m in messages if isinstance(m, dict)]
    if msgs and msgs[-1].get("role") == "assistant":  # a trailing assistant turn is a prefill
        return render_chat(msgs[:-1]) + _content_to_text(msgs[-1].get("content"))
    return render_chat(msgs)


# ---------------------------------------------------------------- task detection

_SYSTEM_PROMPTS = {task: norm_ws(PROMPTS[task]["system"]) for task in TASKS}
_MARKERS = (  # fallback when the system prompt is absent; most specific first
    ("longhealth", re.compile(r"-+BEGIN DOCUMENTS-+")),
    ("mednli", re.compile(r"SENTENCE_1:")),
    ("meqsum", re.compile(r"-+PATIENT INQUIRY-+")),
    ("medisumcode", re.compile(r"Now return the list of diagnoses ICD-10 codes you found")),
    ("problemsummary", re.compile(r"Now respond with the list of diagnoses and patient problems")),
    ("medisumqa", re.compile(r"-+BEGIN DISCHARGE LETTER-+")),
)


def detect_task(text: str) -> str | None:
    """The CLUE task of a prompt: its system prompt if present, else its user-template markers."""
    flat = norm_ws(text)
    for task in TASKS:
        if _SYSTEM_PROMPTS[task] in flat:
            return task
    for task, marker in _MARKERS:
        if marker.search(text):
            return task
    return None


# ---------------------------------------------------------------- MedNLI

_NLI = re.compile(r"SENTENCE_1:[ \t]*([^\n]*)\n[ \t]*SENTENCE_2:[ \t]*([^\n]*)")


def nli_label(premise: str, hypothesis: str) -> str:
    """MedNLI rule: negation mismatch -> contradiction; overlap -> entailment; else neutral.

    * ``contradiction`` if exactly one of the two sentences contains a negation cue
      (no, not, n't, denies/denied, without, negative, absent, none, never, nor, cannot,
      unremarkable).
    * ``entailment`` if at least ``NLI_ENTAILMENT_OVERLAP`` (50 %) of the hypothesis'
      content words (stopwords removed, plurals folded) occur in the premise.
    * ``neutral`` otherwise. Labels are lowercase, like the few-shot answers.
    """
    neg_p = any(w in NEGATION_CUES for w in words_of(premise))
    neg_h = any(w in NEGATION_CUES for w in words_of(hypothesis))
    if neg_p != neg_h:
        return "contradiction"
    hyp = content_words(hypothesis)
    if hyp and len(hyp & content_words(premise)) / len(hyp) >= NLI_ENTAILMENT_OVERLAP:
        return "entailment"
    return "neutral"


def _mednli(text: str) -> tuple[str, str]:
    m = last_match(_NLI, text)
    if m is None:
        return "neutral", ""
    clean = lambda s: strip_markup(s).strip()  # noqa: E731 - tiny local helper
    return nli_label(clean(m.group(1)), clean(m.group(2))), text[m.end() :]


# ---------------------------------------------------------------- MeQSum

_INQUIRY = re.compile(r"-+PATIENT INQUIRY-+\n?(.*?)(?:\n?-+END PATIENT INQUIRY-+|$)", re.S)
_MESSAGE = re.compile(r"MESSAGE\s*:\s*(.*)", re.S | re.I)
_SUBJECT = re.compile(r"SUBJECT\s*:\s*(.*?)\s*(?:\n|MESSAGE\s*:|$)", re.S | re.I)


def summarize_question(chq: str) -> str:
    """MeQSum rule: the inquiry's own question, else "What is <subject>?".

    The first sentence of the MESSAGE part (the whole inquiry if there is no MESSAGE label)
    that ends in "?" and has 3-40 words, whitespace-collapsed and capitalised. Without one,
    the SUBJECT line (or the first 12 words of the message's first sentence) becomes "What is <subject>?".
    """
    msg_match = _MESSAGE.search(chq)
    message = msg_match.group(1) if msg_match else chq
    for sentence in sentences(message):
        sentence = re.sub(r"\?+$", "?", norm_ws(sentence))
        if sentence.endswith("?") and 3 <= len(sentence.split()) <= 40:
            return sentence[0].upper() + sentence[1:]
    subj_match = _SUBJECT.search(chq)
    subject = norm_ws(subj_match.group(1)) if subj_match else ""
    if not subject:
        first = sentences(message)
        subject = " ".join(first[0].split()[:12]) if first else ""
    subject = subject.strip(" .,:;!?-")
    return f"What is {subject}?" if subject else "What is this?"


def _meqsum(text: str) -> tuple[str, str]:
    m = last_match(_INQUIRY, text)
    if m is None:
        return "What is this?", ""
    return summarize_question(m.group(1)), text[m.end() :]


# ---------------------------------------------------------------- Problem Summary

_LETTER = re.compile(r"-+BEGIN DISCHARGE LETTER-+\n?(.*?)(?:\n?-+END DISCHARGE LETTER-+|$)", re.S)
_ASSESSMENT_HEAD = re.compile(r"\b(?:assessment(?:\s+and\s+plan)?|a\s*/\s*p|impression)\s*:?", re.I)
_PROBLEM_SPLIT = re.compile(
    r"[.;:\n,()]|\band\b|\bwith\b|\bpresent(?:s|ing|ed)?\b|\bfound to have\b|\badmitted (?:for|with)\b"
    r"|\bhistory of\b|\bhx of\b|\bh/o\b|\blikely\b|\bdue to\b|\bsecondary to\b|\bs/p\b|\bnow\b|\bwho\b",
    re.I,
)
_FILLER = frozenset("a an the is was has had have of in on for to pt patient yo y o year old m f male female".split())
_MED_SUFFIX = re.compile(
    r"(?:itis|osis|emia|oma|pathy|algia|ectomy|otomy|plasty|uria|plegia|paresis|trophy|megaly|rrhea"
    r"|rrhage|penia|cytosis|spasm|iasis|cele|lysis|ure|ia)$"
)
_PROBLEM_GENERIC = frozenset("history status family personal old year years day days care use time".split())


def _is_clinical(word: str) -> bool:
    low = word.lower()
    if word.isupper() and 2 <= len(word) <= 6 and word.isalpha():
        return True  # HTN, CAD, CHF, AKI ...
    if low in STOPWORDS or low in _PROBLEM_GENERIC or len(low) < 4:
        return False
    return bool(_MED_SUFFIX.search(low)) or stem(low) in icd_vocabulary()


def extract_problems(letter: str, max_items: int = 8) -> str:
    """Problem Summary rule: problems named in the Assessment, joined with ", ".

    The assessment is the text after the last "Assessment"/"A/P"/"Impression" heading, else
    the letter's last paragraph (the template puts the Assessment last). It is cut at
    punctuation and at connecting phrases ("and", "with", "presents", "found to have",
    "history of", "due to", "s/p", ...); leading filler words ("a", "pt", "yo", ...) are
    dropped; an item of at most 8 words is kept if it contains a clinical term: an all-caps
    abbreviation, a medical suffix (-itis, -emia, -osis, -pathy, ...) or a word of the
    ICD-10-CM descriptions. At most ``max_items`` distinct items, in order of appearance.
    Without any such item: the first 12 words of the assessment's first sentence.
    """
    heads = list(_ASSESSMENT_HEAD.finditer(letter))
    if heads:
        part = letter[heads[-1].end() :]
    else:
        paragraphs = [p for p in re.split(r"\n\s*\n", letter) if p.strip()]
        part = paragraphs[-1] if paragraphs else letter
    items: list[str] = []
    seen: set[str] = set()
    for raw in _PROBLEM_SPLIT.split(part):
        words = raw.split()
        while words and words[0].lower().strip("#-*0123456789") in _FILLER | {""}:
            words.pop(0)
        if not words or len(words) > 8 or not any(_is_clinical(w.strip("/-+'\"")) for w in words):
            continue
        item = " ".join(words).strip(" -*#")
        if item and item.lower() not in seen:
            seen.add(item.lower())
            items.append(item)
        if len(items) >= max_items:
            break
    if items:
        return ", ".join(items)
    first = sentences(part)
    return " ".join(first[0].split()[:12]) if first else UNKNOWN_ANSWER


def _problemsummary(text: str) -> tuple[str, str]:
    m = last_match(_LETTER, text)
    if m is None:
        return UNKNOWN_ANSWER, ""
    return extract_problems(m.group(1)), after_last(text, "Do not generate anything else.")


# ---------------------------------------------------------------- LongHealth

_DOCUMENTS = re.compile(r"-+BEGIN DOCUMENTS-+\n?(.*?)(?:\n?-+END DOCUMENTS-+|$)", re.S)
_OPTION = re.compile(r"^\s*([A-F])\s*:\s*(.*\S)\s*$")
_LH_TAIL = "'The correct answer is C: Acute bronchitis.'"


def choose_option(documents: str, options: dict[str, str]) -> str:
    """LongHealth rule: the option best supported by the documents.

    Each option A-E is scored by coverage: the share of its content words that occur
    anywhere in the documents (ties: more matched words, then the earlier letter). If the
    options include F ("cannot be answered") and no other option reaches
    ``LONGHEALTH_SUPPORT`` (80 %) coverage, the answer is F.
    """
    doc_words = content_words(documents)
    best: tuple[float, int, str] | None = None
    for letter, text in sorted(options.items()):
        if letter == "F":
            continue
        words = content_words(text)
        matched = len(words & doc_words)
        score = (matched / len(words) if words else 0.0, matched, letter)
        if best is None or (score[0], score[1]) > (best[0], best[1]):
            best = score
    if "F" in options and (best is None or best[0] < LONGHEALTH_SUPPORT):
        return "F"
    return best[2] if best else min(options)


def _longhealth(text: str) -> tuple[str, str]:
    m = last_match(_DOCUMENTS, text)
    if m is None:
        return UNKNOWN_ANSWER, ""
    options: dict[str, str] = {}
    for line in text[m.end() :].splitlines():
        if line.startswith("Please answer using the following format"):
            break
        opt = _OPTION.match(line)
        if opt and opt.group(1) not in options:
            options[opt.group(1)] = opt.group(2)
    if not options:
        return UNKNOWN_ANSWER, ""
    letter = choose_option(m.group(1), options)
    option = options[letter]
    end = "" if option.endswith((".", "!", "?")) else "."
    return f"The correct answer is {letter}: {option}{end}", after_last(text, _LH_TAIL)


# ---------------------------------------------------------------- MeDiSumQA

_QUESTION_WORDS = frozenset("what why how when which whose whom did does do should can is are was were".split())


def best_sentence(letter: str, question: str, max_words: int = 40) -> str:
    """MeDiSumQA rule: the letter sentence sharing the most content words with the question.

    Sentences are split at newlines and sentence punctuation; those of fewer than 3 words
    are skipped. Ties go to the shorter, then the earlier sentence. The answer is cut to
    ``max_words`` words; no overlap at all gives :data:`UNKNOWN_ANSWER`.
    """
    q_words = content_words(question) - _QUESTION_WORDS
    best: tuple[int, int, str] | None = None
    for sentence in sentences(letter):
        words = sentence.split()
        if len(words) < 3:
            continue
        score = len(q_words & content_words(sentence))
        if score and (best is None or (score, -len(words)) > (best[0], best[1])):
            best = (score, -len(words), sentence)
    if best is None:
        return UNKNOWN_ANSWER
    return " ".join(best[2].split()[:max_words])


def _medisumqa(text: str) -> tuple[str, str]:
    m = last_match(_LETTER, text)
    if m is None:
        return UNKNOWN_ANSWER, ""
    lines = [line.strip() for line in strip_markup(text[m.end() :]).splitlines()]
    lines = [line for line in lines if line]
    question = re.sub(r"^Question\s*:\s*", "", lines[0]) if lines else ""
    prefill = "\n".join(lines[1:])
    return best_sentence(m.group(1), question), prefill


# ---------------------------------------------------------------- MeDiSumCode (the rule: icd_codes)


def _medisumcode(text: str) -> tuple[str, str]:
    m = last_match(_LETTER, text)
    codes = match_icd_codes(m.group(1)) if m else []
    # R69 "Illness, unspecified": a valid code, so an empty match still parses as an answer.
    return ", ".join(codes) or "R69", after_last(text, "Do not generate anything else.")


# ---------------------------------------------------------------- entry point

_HANDLERS = {
    "mednli": _mednli,
    "meqsum": _meqsum,
    "problemsummary": _problemsummary,
    "longhealth": _longhealth,
    "medisumqa": _medisumqa,
    "medisumcode": _medisumcode,
}
_OWN_PREFIX = {"medisumcode": "ICD-10 Codes: "}


def _prefill(tail: str) -> str:
    return strip_markup(tail).strip()


def answer(messages: list[dict[str, Any]] | None = None, prompt: str | None = None) -> str:
    """The baseline's completion for chat ``messages`` or a rendered ``prompt``.

    With a prefill after the target (generate mode, e.g. "Question: "), only the
    continuation is returned; if the answer itself starts with the prefill, that part is
    not repeated. Without one, the plain answer (MeDiSumCode: "ICD-10 Codes: " + codes).
    """
    if prompt is not None:
        text = str(prompt)
    elif messages:
        text = _messages_to_text(list(messages))
    else:
        return UNKNOWN_ANSWER
    task = detect_task(text)
    if task is None:
        return UNKNOWN_ANSWER
    content, tail = _HANDLERS[task](text)
    prefill = _prefill(tail)
    if not prefill:
        return _OWN_PREFIX.get(task, "") + content
    if content.startswith(prefill) and content != prefill:
        rest = content[len(prefill) :]
        return rest.lstrip() if tail[-1:].isspace() else rest
    return content
