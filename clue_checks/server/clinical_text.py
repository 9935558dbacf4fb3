"""Words and sentences of clinical text, as the baseline's rules read them: lower-cased words with plurals
folded, stopwords and negation cues set apart, and chat-template markup removed.

Pure functions of the text; shared by :mod:`clue_checks.server.heuristics`,
:mod:`clue_checks.server.icd_codes` and :mod:`clue_checks.server.variants`.
"""

from __future__ import annotations

import re

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
_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
# Chat-template markup of common model families, removed before reading a prefill.
_MARKUP = re.compile(
    r"<\|start_header_id\|>.*?<\|end_header_id\|>|<\|im_start\|>\w*|<start_of_turn>\w*|<end_of_turn>"
    r"|<\|[^|<>\s]{1,30}\|>|</?s>|\[/?INST\]|<</?SYS>>",
    re.S,
)


def norm_ws(text: str) -> str:
    return " ".join(text.split())


def stem(word: str) -> str:
    """Plural folding only: enough to match 'complications' with 'complication'."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("n't", " not"))


def content_words(text: str) -> set[str]:
    """Lower-cased, plural-folded words that are not stopwords or negation cues."""
    return {stem(w) for w in words_of(text) if w not in STOPWORDS and w not in NEGATION_CUES}


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if s.strip()]


def strip_markup(text: str) -> str:
    return _MARKUP.sub("\n", text)


def last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    last = None
    for last in pattern.finditer(text):  # noqa: B007 - the loop keeps the final match
        pass
    return last


def after_last(text: str, marker: str) -> str:
    idx = text.rfind(marker)
    return text[idx + len(marker) :] if idx >= 0 else ""
