"""UMLS concept P/R/F1 as CLUE computed it (docs/clue-faithfulness.md#umls).

Pipeline: spaCy `en_core_sci_sm` plus scispacy's `scispacy_linker` (UMLS, abbreviations
resolved, other settings scispacy's defaults; no AbbreviationDetector, as in CLUE). A text's
entity set is the canonical names of the top-ranked CUI of every entity that has a candidate,
on the raw (not lowercased) text. Scores are set P/R/F with both-empty → 0.

The model is not on PyPI and the linker's knowledge base is fetched by scispacy on first use;
when anything is missing the metric is `not_computed` with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from clue_checks.metrics import BatchedValues

KEYS = ("umls_p", "umls_r", "umls_f1")
SPACY_MODEL = "en_core_sci_sm"
MODEL_URL = "https://s3-us-west-2.amazonaws.com/ai2-s2-scispacy/releases/v0.5.4/en_core_sci_sm-0.5.4.tar.gz"
LINKER_CONFIG = {"linker_name": "umls", "resolve_abbreviations": True}
INSTALL_HINT = f"pip install clue-checks[umls] && pip install {MODEL_URL}"


def set_f1(pred: set[str] | frozenset[str], gold: set[str] | frozenset[str]) -> tuple[float, float, float]:
    """CLUE's set scores: an empty side gives 0 for its ratio, and two empty sets give F = 0 (not 1)."""
    common = len(pred & gold)
    p = common / len(pred) if pred else 0.0
    r = common / len(gold) if gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


@dataclass(frozen=True)
class Pipeline:
    nlp: Any  # spacy.Language with the linker
    kb_entities: Mapping[str, Any]  # CUI → scispacy Entity (has .canonical_name)


def umls_scores(pairs: Sequence[tuple[str, str]]) -> dict[str, BatchedValues]:
    """{"umls_p"|"umls_r"|"umls_f1": values} for (prediction, reference) pairs, in order."""
    if not pairs:
        return {key: BatchedValues() for key in KEYS}
    pipeline = load_pipeline()
    if isinstance(pipeline, str):
        return _not_computed(pipeline)
    try:
        sets = entity_sets(pipeline, [text for pair in pairs for text in pair])
    except Exception as exc:  # reported in place of the metric, not raised
        return _not_computed(f"UMLS linking failed: {exc.__class__.__name__}: {exc}")
    rows = [set_f1(sets[pred], sets[gold]) for pred, gold in pairs]
    return {key: BatchedValues(tuple(row[i] for row in rows)) for i, key in enumerate(KEYS)}


def entity_sets(pipeline: Pipeline, texts: Iterable[str]) -> dict[str, frozenset[str]]:
    """Each distinct text's canonical-name set, all texts through one nlp.pipe stream."""
    unique = list(dict.fromkeys(texts))
    out: dict[str, frozenset[str]] = {}
    for text, doc in zip(unique, pipeline.nlp.pipe(unique)):
        # kb_ents is sorted by score, best first; names (not CUIs) are compared, as in CLUE.
        out[text] = frozenset(
            pipeline.kb_entities[ent._.kb_ents[0][0]].canonical_name for ent in doc.ents if ent._.kb_ents
        )
    return out


@lru_cache(maxsize=1)
def load_pipeline() -> Pipeline | str:
    """The pipeline, once per process, or why it cannot be had (the reason is cached too)."""
    try:
        import spacy  # lazy and optional: the UMLS metric's extra, seconds to import
    except ImportError:
        return f"spaCy is not installed: {INSTALL_HINT}"
    try:
        from scispacy.linking import EntityLinker  # noqa: F401  registers the "scispacy_linker" factory
    except ImportError:
        return f"scispacy is not installed: {INSTALL_HINT}"
    try:
        nlp = spacy.load(SPACY_MODEL)
    except OSError:
        return f"spaCy model {SPACY_MODEL} is not installed (it is not on PyPI): pip install {MODEL_URL}"
    except Exception as exc:  # e.g. a model built for another spaCy version
        return f"spaCy model {SPACY_MODEL} could not be loaded: {exc.__class__.__name__}: {_first_line(exc)}"
    try:
        linker = nlp.add_pipe("scispacy_linker", config=LINKER_CONFIG)
    except Exception as exc:  # the knowledge base is not cached and cannot be downloaded
        cache = Path(os.getenv("SCISPACY_CACHE", str(Path.home() / ".scispacy")))
        return (
            f"the scispacy UMLS linker knowledge base could not be loaded ({exc.__class__.__name__}: "
            f"{_first_line(exc)}): scispacy downloads it (about 1 GB) into {cache} on first use; run once "
            f"with network access, or copy that folder from a machine that has it (SCISPACY_CACHE sets it)"
        )
    return Pipeline(nlp, linker.kb.cui_to_entity)


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:limit] if text else ""


def _not_computed(reason: str) -> dict[str, BatchedValues]:
    return {key: BatchedValues(not_computed=reason) for key in KEYS}
