"""Problem Summary (BioNLP 2023 ProbSum 1A): list the diagnoses of a progress note (docs/clue-faithfulness.md#problem-summary)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from clue_checks.data.errors import DataError
from clue_checks.data.readers import read_csv, unique_ids
from clue_checks.metrics import BatchedValues
from clue_checks.tasks.base import LoadedTask, Prompt, Sample
from clue_checks.tasks.shots import split_shots
from clue_checks.tasks.summaries import BERTSCORE_KEYS, UMLS_KEYS, SummaryTask, bertscore_for, umls_for

N_SHOTS = 3
# The test CSV's header was never verified (docs/clue-faithfulness.md#problem-summary): CLUE's templates name
# `Subjectives`/`Assessment`/`Summary`; the training CSV is described with the others.
COLUMN_SPELLINGS: dict[str, tuple[str, ...]] = {
    "Subjectives": ("Subjectives", "Subjective Sections", "Subjective", "subjectives", "subjective"),
    "Assessment": ("Assessment", "assessment"),
    "Summary": ("Summary", "summary"),
}
ID_SPELLINGS = ("File ID", "File", "file_id", "id", "ID")


def clue_summary_cleaning(summary: str) -> str:
    """CLUE's `;` handling: its trailing-`;` strip is a no-op, then every `;` becomes `", "`.

    So "a; b;" becomes "a,  b, " (double space, trailing comma): kept, because it is the
    reference CLUE scored against (docs/clue-faithfulness.md#problem-summary).
    """
    return summary.replace(";", ", ")


def _resolve_columns(path: Path, header: list[str]) -> dict[str, str]:
    resolved = {}
    for canonical, spellings in COLUMN_SPELLINGS.items():
        found = next((s for s in spellings if s in header), None)
        if found is None:
            raise DataError(
                path, f"no column for {canonical!r} (accepted spellings: {', '.join(spellings)}; "
                f"columns found: {', '.join(header) or 'none'})", where="header row")
        resolved[canonical] = found
    return resolved


class ProblemSummary(SummaryTask):
    name = "problemsummary"
    title = "Problem Summary"
    level = 1
    data_path = "ProblemSummary/BioNLP2023-1A-Test.csv"
    credentialed = True  # MIMIC-derived: PhysioNet credentialed data
    batched_metrics = BERTSCORE_KEYS + UMLS_KEYS

    def load(self, data_dir: Path) -> LoadedTask:
        path = data_dir / self.data_path
        header, rows = read_csv(path)
        columns = _resolve_columns(path, header)
        id_column = next((c for c in ID_SPELLINGS if c in header), None)
        records = []
        # rows.wheres: the line each row starts on (fields span lines, so not the row's index + 2).
        for number, (where, row) in enumerate(zip(rows.wheres, rows), start=1):
            record = {}
            for canonical, column in columns.items():
                value = row.get(column)
                if value is None:
                    raise DataError(path, f"row has too few fields: no value for {column!r}", where=where)
                record[canonical] = value
            record["Summary"] = clue_summary_cleaning(record["Summary"])
            if id_column:
                if not row.get(id_column):
                    raise DataError(path, f"no value for the id column {id_column!r}", where=where)
                record["id"] = row[id_column]
            else:
                record["id"] = str(number)
            records.append(record)
        if not records:
            raise DataError(path, "no records in file")
        unique_ids(path, (r["id"] for r in records), id_column or "row number", rows.wheres)
        shots, scored = split_shots(records, N_SHOTS, self.profile.shots_for(self.name))
        as_sample = lambda r: Sample(self.name, r["id"], r, r["Summary"])  # noqa: E731
        return LoadedTask(tuple(map(as_sample, shots)), tuple(map(as_sample, scored)), path)

    def prompt(self, sample: Sample, shots: Sequence[Sample]) -> Prompt:
        return self.few_shot_prompt(sample, shots, answer_field="Summary")

    def batch_score(self, pairs: Sequence[tuple[str, str]]) -> dict[str, BatchedValues]:
        scores = bertscore_for(self, pairs, lowercase=self.profile.problemsummary_lowercase)
        scores.update(umls_for(pairs))  # UMLS on the original case
        return scores
