"""MedNLI: natural language inference on clinical sentences (docs/clue-faithfulness.md#mednli)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from clue_checks.data.errors import DataError
from clue_checks.data.readers import read_jsonl, unique_ids
from clue_checks.metrics.classification import exactly_once
from clue_checks.tasks.base import LoadedTask, Prompt, Sample, SampleResult, Task
from clue_checks.tasks.shots import split_shots

LABELS = ("entailment", "contradiction", "neutral")
N_SHOTS = 3


class MedNLI(Task):
    name = "mednli"
    answer_reader = "labels"
    credentialed = True  # MIMIC-derived (PhysioNet credentialed data use agreement)
    title = "MedNLI"
    level = 1
    data_path = "MedNLI/mli_test_v1.jsonl"
    credentialed = True  # MIMIC-derived: PhysioNet credentialed data
    metric_names = ("accuracy",)

    def load(self, data_dir: Path) -> LoadedTask:
        path = data_dir / self.data_path
        records = read_jsonl(path, ("sentence1", "sentence2", "gold_label", "pairID"))
        for where, record in zip(records.wheres, records):
            if record["gold_label"] not in LABELS:
                raise DataError(
                    path,
                    f"field 'gold_label' is {record['gold_label']!r}; expected one of {', '.join(LABELS)}",
                    where=f"{where} (pairID {record['pairID']})",
                )
        unique_ids(path, (r["pairID"] for r in records), "pairID", records.wheres)
        shots, scored = split_shots(records, N_SHOTS, self.profile.shots_for(self.name))
        as_sample = lambda r: Sample(self.name, r["pairID"], r, r["gold_label"])  # noqa: E731
        return LoadedTask(tuple(map(as_sample, shots)), tuple(map(as_sample, scored)), path)

    def prompt(self, sample: Sample, shots: Sequence[Sample]) -> Prompt:
        return self.few_shot_prompt(sample, shots, answer_field="gold_label")  # MedNLI's prefix is ""


    def score(self, sample: Sample, response: str, floors: Mapping[str, float]) -> SampleResult:
        gold = sample.reference
        accuracy = exactly_once(response, gold)
        mentioned = {label: response.upper().count(label.upper()) for label in LABELS}
        if accuracy == 1.0:
            return SampleResult({"accuracy": accuracy}, True, f"gold label {gold.upper()} named exactly once",
                                {"label_counts": mentioned})
        count = mentioned[gold]
        why = (f"gold label {gold.upper()} not in the answer" if count == 0
               else f"gold label {gold.upper()} named {count} times (CLUE counts only exactly once)")
        return SampleResult({"accuracy": accuracy}, False, why, {"label_counts": mentioned})
