"""MeDiSumQA: answer a patient's question about their discharge letter (docs/clue-faithfulness.md#medisumqa)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from clue_checks.data.errors import DataError
from clue_checks.data.readers import read_json_records
from clue_checks.metrics import BatchedValues
from clue_checks.tasks.base import LoadedTask, Prompt, Sample
from clue_checks.tasks.families import require_family
from clue_checks.tasks.shots import split_shots
from clue_checks.tasks.summaries import BERTSCORE_KEYS, UMLS_KEYS, SummaryTask, bertscore_for, umls_for

N_SHOTS = 1
# The field names drifted between CLUE's generator, its evaluators and the PhysioNet release (docs/clue-faithfulness.md#medisumqa).
FIELD_VARIANTS: dict[str, tuple[str, ...]] = {
    "discharge_summary": ("discharge_summary", "without_discharge_summary", "without_summary"),
    "Question": ("Question", "question"),
    "Answer": ("Answer", "answer"),
}


def _field(path: Path, where: str, record: Mapping, canonical: str) -> str:
    for name in FIELD_VARIANTS[canonical]:
        if name in record:
            value = record[name]
            if not isinstance(value, str):
                raise DataError(path, f"field {name!r} must be text, got {type(value).__name__}", where=where)
            return value
    raise DataError(path, f"missing field {canonical!r} (accepted: {', '.join(FIELD_VARIANTS[canonical])}; "
                    f"present: {', '.join(sorted(record))})", where=where)


class MeDiSumQA(SummaryTask):
    name = "medisumqa"
    title = "MeDiSumQA"
    level = 2
    data_path = "MeDiSumQA/MeDiSumQA.json"
    credentialed = True  # MIMIC-derived: PhysioNet credentialed data
    batched_metrics = BERTSCORE_KEYS + UMLS_KEYS
    self_prompting_cleanup = False  # CLUE only stripped MeDiSumQA answers

    def load(self, data_dir: Path) -> LoadedTask:
        path = data_dir / self.data_path
        raw = read_json_records(path)
        if not raw:
            raise DataError(path, "no records in file")
        seen: Counter[str] = Counter()
        records = []
        for number, (where, item) in enumerate(zip(raw.wheres, raw), start=1):
            record = {name: _field(path, where, item, name) for name in FIELD_VARIANTS}
            note = str(item.get("note_id") or f"record{number}")
            seen[note] += 1
            # Several questions share a letter: the id is the note plus the question's place in the file.
            record["id"] = f"{note}/q{seen[note]}"
            records.append(record)
        shots, scored = split_shots(records, N_SHOTS, self.profile.shots_for(self.name))
        as_sample = lambda r: Sample(self.name, r["id"], r, r["Answer"])  # noqa: E731
        return LoadedTask(tuple(map(as_sample, shots)), tuple(map(as_sample, scored)), path)

    def cluster_of(self, sample: Sample) -> str | None:
        # Questions on one discharge note (`note/qN`) are not independent samples.
        return "medisumqa:" + sample.id.rsplit("/q", 1)[0]

    def prompt(self, sample: Sample, shots: Sequence[Sample]) -> Prompt:
        # The final TGI-era script crashed formatting this prefix (`answer=`); earlier ones prefilled "Answer: ".
        return self.few_shot_prompt(sample, shots, answer_field="Answer")

    def clean(self, text: str, family: str) -> str:
        # CLUE stripped the answer first, then made the Phi cut (no self-prompting clean-up here): a Phi
        # answer keeps the whitespace in front of " <|end|>", and a leading " <|end|>" is not cut at all.
        require_family(family)
        if not self.profile.postprocess:
            return text
        return super().clean(text.strip(), family)

    def batch_score(self, pairs: Sequence[tuple[str, str]]) -> dict[str, BatchedValues]:
        scores = bertscore_for(self, pairs)
        scores.update(umls_for(pairs))
        return scores
