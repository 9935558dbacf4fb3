"""Label checks for classification-style answers."""

from __future__ import annotations


def exactly_once(output: str, label: str) -> float:
    """CLUE's MedNLI rule: 1.0 iff the gold label occurs exactly once in the output (case-insensitive).

    Occurrences are non-overlapping (CLUE used `re.findall` with the label as pattern; labels are
    plain words, so `str.count` is the same). A correct label said twice scores 0; an output that
    names the gold label and another label once each scores 1 — CLUE never parses the other labels.
    """
    if not label:
        raise ValueError("the gold label must not be empty")
    return 1.0 if output.upper().count(label.upper()) == 1 else 0.0
