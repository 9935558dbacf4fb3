"""MeQSum: summarise a consumer health inquiry as one concise question (docs/clue-faithfulness.md#meqsum)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from clue_checks.data.readers import read_xlsx, unique_ids
from clue_checks.metrics import BatchedValues
from clue_checks.tasks.base import LoadedTask, Prompt, Sample
from clue_checks.tasks.shots import split_shots
from clue_checks.tasks.summaries import BERTSCORE_KEYS, SummaryTask, bertscore_for

N_SHOTS = 3


class MeQSum(SummaryTask):
    name = "meqsum"
    title = "MeQSum"
    level = 1
    data_path = "MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"
    batched_metrics = BERTSCORE_KEYS

    def load(self, data_dir: Path) -> LoadedTask:
        path = data_dir / self.data_path
        columns = ("File", "CHQ", "Summary")
        records = read_xlsx(path, "QS", columns)
        unique_ids(path, (r["File"] for r in records), "File", records.wheres)
        shots, scored = split_shots(records, N_SHOTS, self.profile.shots_for(self.name))
        # Whitespace is kept as in the file: CLUE did no preprocessing.
        as_sample = lambda r: Sample(self.name, r["File"], r, r["Summary"])  # noqa: E731
        return LoadedTask(tuple(map(as_sample, shots)), tuple(map(as_sample, scored)), path)

    def prompt(self, sample: Sample, shots: Sequence[Sample]) -> Prompt:
        return self.few_shot_prompt(sample, shots, answer_field="Summary")
    def batch_score(self, pairs: Sequence[tuple[str, str]]) -> dict[str, BatchedValues]:
        return bertscore_for(self, pairs)
