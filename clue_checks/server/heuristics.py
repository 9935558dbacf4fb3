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

import functools
import json
import re
import warnings
import threading
from collections import Counter
from pathlib import Path
from typing import Any

UNKNOWN_ANSWER = "I don't know."
PROMPTS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "tasks" / "clue_prompts.json").read_text(encoding="utf-8")
)
TASKS = ("mednli", "meqsum", "problemsummary", "longhealth", "medisumqa", "medisumcode")

# Thresholds quoted by the docs; changing one changes the baseline (and /info model_sha).
NLI_ENTAILMENT_OVERLAP = 0.5  # share of hypothesis content words found in the premise
LONGHEALTH_SUPPORT = 0.8  # option coverage by the documents needed to beat option F
ICD_MIN_COVERAGE = 0.75  # share of a code description's content words in one letter sentence
ICD_MIN_MATCHED = 2
ICD_MAX_CODES = 6
ICD_MAX_DF = 3000  # description words in more descriptions than this carry no signal

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself of off on once only or other our ours out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will
    with would you your yours yourself yourselves patient patients pt mr mrs ms please thank thanks
    hello hi dear know want like get got also may might much many""".split()
)
NEGATION_CUES = frozenset(
    "no not denies denied deny denying without negative absent none never nor cannot unremarkable".split()
)
# Words of ICD-10-CM descriptions that say nothing about the diagnosis itself.
ICD_GENERIC = frozenset(
    """other unspecified specified encounter initial subsequent sequela elsewhere classified nos
    part site region due type history""".split()
)
_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
# Chat-template markup of common model families, removed before reading a prefill.
_MARKUP = re.compile(
    r"<\|start_header_id\|>.*?<\|end_header_id\|>|<\|im_start\|>\w*|<start_of_turn>\w*|<end_of_turn>"
    r"|<\|[^|<>\s]{1,30}\|>|</?s>|\[/?INST\]|<</?SYS>>",
    re.S,
)


# ---------------------------------------------------------------- text helpers


def _norm_ws(text: str) -> str:
    return " ".join(text.split())


def _stem(word: str) -> str:
    """Plural folding only: enough to match 'complications' with 'complication'."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("n't", " not"))


def content_words(text: str) -> set[str]:
    """Lower-cased, plural-folded words that are not stopwords or negation cues."""
    return {_stem(w) for w in _words(text) if w not in STOPWORDS and w not in NEGATION_CUES}


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if s.strip()]


def _strip_markup(text: str) -> str:
    return _MARKUP.sub("\n", text)


def _last(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    last = None
    for last in pattern.finditer(text):  # noqa: B007 - the loop keeps the final match
        pass
    return last


def _after_last(text: str, marker: str) -> str:
    idx = text.rfind(marker)
    return text[idx + len(marker) :] if idx >= 0 else ""


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

_SYSTEM_PROMPTS = {task: _norm_ws(PROMPTS[task]["system"]) for task in TASKS}
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
    flat = _norm_ws(text)
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
    neg_p = any(w in NEGATION_CUES for w in _words(premise))
    neg_h = any(w in NEGATION_CUES for w in _words(hypothesis))
    if neg_p != neg_h:
        return "contradiction"
    hyp = content_words(hypothesis)
    if hyp and len(hyp & content_words(premise)) / len(hyp) >= NLI_ENTAILMENT_OVERLAP:
        return "entailment"
    return "neutral"


def _mednli(text: str) -> tuple[str, str]:
    m = _last(_NLI, text)
    if m is None:
        return "neutral", ""
    clean = lambda s: _strip_markup(s).strip()  # noqa: E731 - tiny local helper
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
    for sentence in _sentences(message):
        sentence = re.sub(r"\?+$", "?", _norm_ws(sentence))
        if sentence.endswith("?") and 3 <= len(sentence.split()) <= 40:
            return sentence[0].upper() + sentence[1:]
    subj_match = _SUBJECT.search(chq)
    subject = _norm_ws(subj_match.group(1)) if subj_match else ""
    if not subject:
        first = _sentences(message)
        subject = " ".join(first[0].split()[:12]) if first else ""
    subject = subject.strip(" .,:;!?-")
    return f"What is {subject}?" if subject else "What is this?"


def _meqsum(text: str) -> tuple[str, str]:
    m = _last(_INQUIRY, text)
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
    return bool(_MED_SUFFIX.search(low)) or _stem(low) in _icd_vocabulary()


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
    first = _sentences(part)
    return " ".join(first[0].split()[:12]) if first else UNKNOWN_ANSWER


def _problemsummary(text: str) -> tuple[str, str]:
    m = _last(_LETTER, text)
    if m is None:
        return UNKNOWN_ANSWER, ""
    return extract_problems(m.group(1)), _after_last(text, "Do not generate anything else.")


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
    m = _last(_DOCUMENTS, text)
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
    return f"The correct answer is {letter}: {option}{end}", _after_last(text, _LH_TAIL)


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
    for sentence in _sentences(letter):
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
    m = _last(_LETTER, text)
    if m is None:
        return UNKNOWN_ANSWER, ""
    lines = [line.strip() for line in _strip_markup(text[m.end() :]).splitlines()]
    lines = [line for line in lines if line]
    question = re.sub(r"^Question\s*:\s*", "", lines[0]) if lines else ""
    prefill = "\n".join(lines[1:])
    return best_sentence(m.group(1), question), prefill


# ---------------------------------------------------------------- MeDiSumCode

_CODE_RE = re.compile(r"[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?")


_ICD_LOCK = threading.Lock()  # concurrent first requests must not each build the index


def _icd_index() -> tuple[list[str], list[frozenset[str]], dict[str, list[int]]]:
    with _ICD_LOCK:
        return _build_icd_index()


@functools.lru_cache(maxsize=1)
def _build_icd_index() -> tuple[list[str], list[frozenset[str]], dict[str, list[int]]]:
    """(codes, description word sets, word -> code indices) over billable ICD-10-CM codes.

    Leaves of simple_icd_10_cm; 7th-character codes only for the initial encounter ("A").
    Built once per process (about 2-3 s, most of it importing the package).
    """
    with warnings.catch_warnings():  # 1.5.0 loads its data with deprecated importlib.resources calls
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as cm

    raw: list[tuple[str, set[str]]] = []
    df: Counter[str] = Counter()
    for code in cm.get_all_codes(True):
        if not _CODE_RE.fullmatch(code) or not cm.is_leaf(code):
            continue
        if len(code) == 8 and not code.endswith("A"):
            continue
        # "without" stays a content word: it separates E11.9 from E11.8.
        words = {_stem(w) for w in _words(cm.get_description(code))} - STOPWORDS - ICD_GENERIC
        words -= NEGATION_CUES - {"without"}
        raw.append((code, words))
        df.update(words)
    codes: list[str] = []
    sets: list[frozenset[str]] = []
    postings: dict[str, list[int]] = {}
    for code, words in raw:
        kept = frozenset(w for w in words if df[w] <= ICD_MAX_DF)
        if len(kept) < ICD_MIN_MATCHED:
            continue
        for w in kept:
            postings.setdefault(w, []).append(len(codes))
        codes.append(code)
        sets.append(kept)
    return codes, sets, postings


@functools.lru_cache(maxsize=1)
def _icd_vocabulary() -> frozenset[str]:
    return frozenset(_icd_index()[2])


def match_icd_codes(letter: str, max_codes: int = ICD_MAX_CODES) -> list[str]:
    """MeDiSumCode rule: ICD-10-CM codes whose descriptions are spelled out in the letter.

    For every sentence of the letter, each code scores the share of its description's
    content words that occur in that sentence (best sentence counts). A code needs at least
    ``ICD_MIN_MATCHED`` (2) matched words and ``ICD_MIN_COVERAGE`` (75 %) coverage. Codes are
    ranked by coverage, then matched words, then code; one code per 3-character category,
    none whose matched words all belong to a chosen code's description; at most
    ``max_codes`` (6). Codes are dotted, e.g. ``["E11.9", "I10"]``.
    """
    codes, sets, postings = _icd_index()
    best: dict[int, tuple[float, int]] = {}
    hits: dict[int, frozenset[str]] = {}  # words of the best sentence that matched
    for sentence in _sentences(letter):
        words = content_words(sentence) | ({"without"} & set(_words(sentence)))
        counts: Counter[int] = Counter()
        for word in words:
            counts.update(postings.get(word, ()))
        for idx, matched in counts.items():
            if matched < ICD_MIN_MATCHED:
                continue
            coverage = matched / len(sets[idx])
            if coverage >= ICD_MIN_COVERAGE and (coverage, matched) > best.get(idx, (0.0, 0)):
                best[idx] = (coverage, matched)
                hits[idx] = sets[idx] & words
    ranked = sorted(best, key=lambda i: (-best[i][0], -best[i][1], codes[i]))
    chosen: list[str] = []
    categories: set[str] = set()
    explained: list[frozenset[str]] = []
    for idx in ranked:
        # Skip a second code of a category, and a code whose matched words are all words of
        # a chosen code (E10.9 "type 1 diabetes ..." matching the phrase that gave E11.9).
        if codes[idx][:3] in categories or any(hits[idx] <= words for words in explained):
            continue
        categories.add(codes[idx][:3])
        explained.append(sets[idx])
        chosen.append(codes[idx])
        if len(chosen) >= max_codes:
            break
    return chosen


def _medisumcode(text: str) -> tuple[str, str]:
    m = _last(_LETTER, text)
    codes = match_icd_codes(m.group(1)) if m else []
    # R69 "Illness, unspecified": a valid code, so an empty match still parses as an answer.
    return ", ".join(codes) or "R69", _after_last(text, "Do not generate anything else.")


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
    return _strip_markup(tail).strip()


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
