"""Reading LongHealth answers: CLUE's strict pattern, and the lenient forms and abstentions reported beside it."""

from __future__ import annotations

import re

STRICT = re.compile(r"The correct answer is (\w):")

_LETTER = r"[*_\"'(\[]*(?:([A-F])(?![A-Za-z0-9])|([a-f])(?=[*_\"')\]]*[:)]))"
# Forms a reader would accept but CLUE's pattern does not, most specific first.
LENIENT_FORMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Markdown emphasis may close after the label or the colon: "**The correct answer is:** C", "**Answer:** C".
    ("'correct answer is' + letter",
     re.compile(r"(?i:correct answer is)[\s*_]*:?[\s*_]*(?i:option\s+)?" + _LETTER)),
    ("'Answer: X'", re.compile(r"\b(?i:answer)[*_]*\s*:[\s*_]*(?i:option\s+)?" + _LETTER)),
    ("a leading letter", re.compile(r"^[\s*_\"'(\[]*([A-F])()[*_\"')\]]*\s*(?:[:.)]|$)")),
)
# The model says the documents do not answer the question (LongHealth issue #2).
ABSTAINS = re.compile(
    r"(?i)\b(?:cannot|can ?not|can't|could not|couldn't) be (?:answered|determined)\b"
    r"|\bunable to (?:answer|determine)\b"
    r"|\b(?:documents?|letters?|texts?|records?) (?:do|does) not (?:mention|contain|provide|include|specify|state)\b"
    r"|\bnot (?:mentioned|provided|stated|specified|found) in the (?:provided |given )?(?:documents?|letters?|texts?)\b"
    r"|\bno (?:information|mention)\b"
)


def strict_letter(response: str) -> str | None:
    """CLUE's parse: the first `The correct answer is X:`, X one word character, case kept."""
    found = STRICT.search(response)
    return found.group(1) if found else None


def lenient_letter(response: str, letters: str) -> tuple[str | None, str]:
    """(letter, form) by the secondary parser; letters outside `letters` are ignored.

    1. CLUE's strict match, when it caught an upper-case option letter (so lenient ⊇ strict).
    2. Else the first form of LENIENT_FORMS that matches: "The correct answer is: C",
       "The correct answer is **C**:", "The correct answer is C.", "... is option C", "Answer: C",
       "**Answer:** C", "**The correct answer is:** C",
       a response that starts with "C:", "C.", "**C**:" or "(C)". Upper-case letters count when not
       followed by a letter or digit; lower-case ones only directly before ":" or ")" (never the article
       in "is a combination").
    3. Else no letter: (None, "none").
    Abstention (ABSTAINS: "cannot be answered", "the documents do not mention", …) is judged separately:
    `accuracy_lenient` is 1 when this letter is the ground truth, or when the ground truth is F and the
    model states the documents do not answer, whatever letter it names (LongHealth issue #2). It is
    never below the strict `accuracy`.
    """
    strict = strict_letter(response)
    if strict is not None and strict in letters:
        return strict, "CLUE's 'The correct answer is X:'"
    for name, pattern in LENIENT_FORMS:
        for found in pattern.finditer(response):
            letter = (found.group(1) or found.group(2) or "").upper()
            if letter and letter in letters:
                return letter, name
    return None, "none"


def stated_letters(response: str) -> list[str]:
    """Every different capital letter the response states as its answer, in the order written.

    Read from CLUE's pattern (any capital, offered or not) and the lenient forms that name an answer
    ("... correct answer is: C", "Answer: C"; A–F). Two or more mean the model hedged (triage); the
    scores never use this.
    """
    found = [(m.start(), m.group(1)) for m in STRICT.finditer(response) if "A" <= m.group(1) <= "Z"]
    for _, pattern in LENIENT_FORMS[:2]:
        found += [(m.start(), (m.group(1) or m.group(2) or "").upper()) for m in pattern.finditer(response)]
    return list(dict.fromkeys(letter for _, letter in sorted(found) if letter))
