"""ROUGE-1/2/L F-measures exactly as CLUE computed them (docs/clue-faithfulness.md#rouge).

CLUE called HuggingFace `evaluate`'s rouge, which wraps Google's rouge-score with
`use_stemmer=False` and the default tokenizer (lowercase, keep [a-z0-9] runs). For a
single pair the aggregated F equals that pair's F, so one scorer call per sample is exact.
"""

from __future__ import annotations

from functools import lru_cache

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


@lru_cache(maxsize=1)
def _scorer():
    # Imported on the first score, not with the plugin: rouge-score imports nltk (and nltk scipy.stats),
    # a one-off cost that overlaps with the requests already in flight.
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=False)


def rouge_f(prediction: str, reference: str) -> dict[str, float]:
    """{"rouge1": F, "rouge2": F, "rougeL": F}; empty text on either side scores 0 (rouge-score's rule)."""
    scores = _scorer().score(reference, prediction)  # rouge-score takes (target, prediction)
    return {name: float(scores[name].fmeasure) for name in ROUGE_TYPES}
