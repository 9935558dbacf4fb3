"""What the summarisation tasks share: ROUGE per sample against the per-sample floors, and BERTScore and
UMLS as batched metrics, per the profile."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from clue_checks.metrics import BatchedValues
from clue_checks.metrics.bertscore import bertscore
from clue_checks.metrics.rouge import ROUGE_TYPES, rouge_f
from clue_checks.metrics.umls import umls_scores
from clue_checks.tasks.base import Sample, SampleResult, Task, floor_verdict

BERTSCORE_KEYS = ("bertscore_p", "bertscore_r", "bertscore_f1")
UMLS_KEYS = ("umls_p", "umls_r", "umls_f1")


class SummaryTask(Task):
    """A task scored like CLUE's summaries: ROUGE F per sample, the sample passing every floor set for it."""

    metric_names = ROUGE_TYPES
    floor_metrics = ROUGE_TYPES
    floor_is_the_check = True

    def score(self, sample: Sample, response: str, floors: Mapping[str, float]) -> SampleResult:
        # The paper era lowercased ProblemSummary's two sides first; ROUGE lowercases anyway, so only
        # BERTScore differs there (ProblemSummary.batch_score).
        metrics = rouge_f(response, sample.reference)
        passed, why = floor_verdict(metrics, floors, response)
        return SampleResult(dict(metrics), passed, why)


def bertscore_for(task: Task, pairs: Sequence[tuple[str, str]], *, lowercase: bool = False) -> dict[str, BatchedValues]:
    return bertscore(
        pairs,
        task.profile.bertscore_model.get(task.name, "scibert"),
        model_path=task.options.get("bertscore_model"),
        num_layers=task.options.get("bertscore_layers"),
        lowercase=lowercase,
    )


def umls_for(pairs: Sequence[tuple[str, str]]) -> dict[str, BatchedValues]:
    return umls_scores(pairs)
