"""The MeDiSumCode rule of the baseline: ICD-10-CM codes whose descriptions a discharge letter spells out.

The index over ICD-10-CM is built from ``simple_icd_10_cm`` once per process, on first use.
"""

from __future__ import annotations

import functools
import re
import threading
import warnings
from collections import Counter

from clue_checks.server.clinical_text import NEGATION_CUES, STOPWORDS, content_words, sentences, stem, words_of

# Thresholds quoted by the docs; changing one changes the baseline (and /info model_sha).
ICD_MIN_COVERAGE = 0.75  # share of a code description's content words in one letter sentence
ICD_MIN_MATCHED = 2
ICD_MAX_CODES = 6
ICD_MAX_DF = 3000  # description words in more descriptions than this carry no signal

# Words of ICD-10-CM descriptions that say nothing about the diagnosis itself.
ICD_GENERIC = frozenset(
    """other unspecified specified encounter initial subsequent sequela elsewhere classified nos
    part site region due type history""".split()
)
ICD_CODE = re.compile(r"[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?")


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
        import simple_icd_10_cm as cm  # lazy: seconds to import, and only MeDiSumCode prompts need it

    raw: list[tuple[str, set[str]]] = []
    df: Counter[str] = Counter()
    for code in cm.get_all_codes(True):
        if not ICD_CODE.fullmatch(code) or not cm.is_leaf(code):
            continue
        if len(code) == 8 and not code.endswith("A"):
            continue
        # "without" stays a content word: it separates E11.9 from E11.8.
        words = {stem(w) for w in words_of(cm.get_description(code))} - STOPWORDS - ICD_GENERIC
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
def icd_vocabulary() -> frozenset[str]:
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
    for sentence in sentences(letter):
        words = content_words(sentence) | ({"without"} & set(words_of(sentence)))
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
