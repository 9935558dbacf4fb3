"""Answer parsers of a task file: what a model's text is read as before it is scored.

Four kinds, each a pure function of the text:

- ``choices``: the one offered label the text names, with CLUE's normalisation (case-insensitive, whole
  words); a text naming none, or several different ones, has no answer;
- ``regex``: the first match of a pattern (its first group when it has one), stripped;
- ``text``: the whole text, stripped;
- ``codes``: a list of ICD-10 codes (CLUE's pattern, dots removed, order and duplicates kept).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Union

from clue_checks.metrics.icd10 import extract_codes

ParserKind = Literal["choices", "regex", "text", "codes"]
PARSER_KINDS: tuple[str, ...] = ("choices", "regex", "text", "codes")

Answer = Union[str, tuple[str, ...], None]


def normalise_label(text: str) -> str:
    """CLUE-style label comparison: case and surrounding whitespace and punctuation do not count."""
    return text.strip().strip(".,;:!?\"'()[]").strip().casefold()


@dataclass(frozen=True)
class AnswerParser:
    kind: ParserKind = "text"
    choices: tuple[str, ...] = ()
    pattern: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in PARSER_KINDS:
            raise ValueError(f"unknown answer parser {self.kind!r}; choose one of {', '.join(PARSER_KINDS)}")
        if self.kind == "choices" and not self.choices:
            raise ValueError("the choices parser needs at least one choice")
        if self.kind == "regex":
            if not self.pattern:
                raise ValueError("the regex parser needs a pattern")
            re.compile(self.pattern)  # re.error names the problem

    def parse(self, text: str) -> Answer:
        """The answer read from `text`; None when there is none to read (scored as wrong, kind `format`)."""
        if self.kind == "text":
            return text.strip()
        if self.kind == "codes":
            return tuple(extract_codes(text))
        if self.kind == "regex":
            assert self.pattern is not None
            match = re.search(self.pattern, text, flags=re.DOTALL)
            if match is None:
                return None
            return (match.group(1) if match.re.groups else match.group(0)).strip()
        named = set(self.named(text))
        return next(iter(named)) if len(named) == 1 else None

    def named(self, text: str) -> tuple[str, ...]:
        """The choices the text names, in the declared order (none, or several, is no answer)."""
        return tuple(choice for choice in self.choices if _names(text, choice))


def _names(text: str, label: str) -> bool:
    """The label occurs in the text as whole words, case-insensitively ("no" is not found in "not")."""
    words = re.escape(label.strip())
    return re.search(rf"(?<!\w){words}(?!\w)", text, flags=re.IGNORECASE) is not None


def split_list(value: str, separator: str) -> tuple[str, ...]:
    """A reference list written in one field ("E11.9; I10"), split and stripped, empty items dropped."""
    return tuple(item.strip() for item in value.split(separator) if item.strip())
