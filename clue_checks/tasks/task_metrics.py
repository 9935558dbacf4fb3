"""The metrics a task file may name: one table of data, each entry a pure function of (answer, reference).

A metric's kind picks its statistics: ``binary`` (0/1 per sample: Wilson intervals, exact McNemar) or
``continuous`` (bootstrap intervals, sign-flip tests). A binary sample passes by being right, so it takes
no per-sample floor; a continuous one passes its floors. ``batched`` metrics are computed once over the
whole task at the end of the run (BERTScore), so they take gates, never floors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from clue_checks.metrics.icd10 import approximate_match, exact_match, extract_codes
from clue_checks.metrics.rouge import ROUGE_TYPES, rouge_f
from clue_checks.tasks.answers import Answer, normalise_label, split_list

MetricKind = Literal["binary", "continuous"]

Values = dict[str, float]


@dataclass(frozen=True)
class MetricDef:
    name: str
    kind: MetricKind
    family: tuple[str, ...]  # the values computed together (the named one among them), in report order
    parsers: tuple[str, ...]  # the answer parsers it can score
    score: Callable[[Answer, str, str], Values] | None  # (answer, reference, list separator) -> family values
    batched: bool = False
    extra: str | None = None  # the pip extra it needs, when it needs one


def _text(answer: Answer) -> str:
    if answer is None:
        return ""
    return answer if isinstance(answer, str) else ", ".join(answer)


def _accuracy(answer: Answer, reference: str, _sep: str) -> Values:
    right = answer is not None and normalise_label(_text(answer)) == normalise_label(reference)
    return {"accuracy": 1.0 if right else 0.0}


def _exact(answer: Answer, reference: str, _sep: str) -> Values:
    return {"exact_match": 1.0 if answer is not None and _text(answer).strip() == reference.strip() else 0.0}


def _rouge(answer: Answer, reference: str, _sep: str) -> Values:
    return dict(rouge_f(_text(answer), reference))


def _prf(prefix: str, p: float, r: float, f: float) -> Values:
    return {f"{prefix}_p": p, f"{prefix}_r": r, f"{prefix}_f1": f}


def _codes(answer: Answer) -> Sequence[str]:
    return answer if isinstance(answer, tuple) else ()


def _icd_em(answer: Answer, reference: str, _sep: str) -> Values:
    return _prf("icd10_em", *exact_match(_codes(answer), extract_codes(reference)))


def _icd_ap(answer: Answer, reference: str, _sep: str) -> Values:
    return _prf("icd10_ap", *approximate_match(_codes(answer), extract_codes(reference)))


def _set_f1(answer: Answer, reference: str, sep: str) -> Values:
    predicted = {normalise_label(x) for x in (answer if isinstance(answer, tuple) else split_list(_text(answer), sep))}
    gold = {normalise_label(x) for x in split_list(reference, sep)}
    predicted.discard("")
    hits = len(predicted & gold)
    p = hits / len(predicted) if predicted else 0.0
    r = hits / len(gold) if gold else 0.0
    return _prf("set", p, r, 2 * p * r / (p + r) if p + r else 0.0)


_TEXTUAL = ("choices", "regex", "text")
_ROUGE = tuple(MetricDef(name, "continuous", ROUGE_TYPES, ("regex", "text"), _rouge) for name in ROUGE_TYPES)
_BERTSCORE = ("bertscore_p", "bertscore_r", "bertscore_f1")

METRICS: dict[str, MetricDef] = {m.name: m for m in (
    MetricDef("accuracy", "binary", ("accuracy",), _TEXTUAL, _accuracy),
    MetricDef("exact_match", "binary", ("exact_match",), _TEXTUAL, _exact),
    *_ROUGE,
    MetricDef("bertscore_f1", "continuous", _BERTSCORE, ("regex", "text"), None, batched=True, extra="bertscore"),
    MetricDef("icd10_em_f1", "continuous", ("icd10_em_p", "icd10_em_r", "icd10_em_f1"), ("codes",), _icd_em),
    MetricDef("icd10_ap_f1", "continuous", ("icd10_ap_p", "icd10_ap_r", "icd10_ap_f1"), ("codes",), _icd_ap),
    MetricDef("set_f1", "continuous", ("set_p", "set_r", "set_f1"), ("text", "regex", "codes"), _set_f1),
)}
