"""What the summarisation tasks share: BERTScore and UMLS as batched metrics, per the profile."""

from __future__ import annotations

from collections.abc import Sequence

from clue_checks.metrics import BatchedValues
from clue_checks.tasks.base import Task

BERTSCORE_KEYS = ("bertscore_p", "bertscore_r", "bertscore_f1")
UMLS_KEYS = ("umls_p", "umls_r", "umls_f1")


def bertscore_for(task: Task, pairs: Sequence[tuple[str, str]], *, lowercase: bool = False) -> dict[str, BatchedValues]:
    from clue_checks.metrics.bertscore import bertscore

    return bertscore(
        pairs,
        task.profile.bertscore_model.get(task.name, "scibert"),
        model_path=task.options.get("bertscore_model"),
        num_layers=task.options.get("bertscore_layers"),
        lowercase=lowercase,
    )


def umls_for(pairs: Sequence[tuple[str, str]]) -> dict[str, BatchedValues]:
    from clue_checks.metrics.umls import umls_scores

    return umls_scores(pairs)
