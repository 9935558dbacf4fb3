"""MeDiSumCode: list the ICD-10 codes of a discharge letter's diagnoses (docs/clue-faithfulness.md#medisumcode)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clue_checks.data.errors import DataError
from clue_checks.data.readers import read_json_records, unique_ids
from clue_checks.metrics.icd10 import (approximate_match, dotted, exact_match, extract_codes, invalid_codes,
                             is_code_increment, near_misses, valid_rate)
from clue_checks.tasks.base import LoadedTask, Prompt, Sample, SampleResult, Task, shown_against
from clue_checks.tasks.shots import split_shots

N_SHOTS = 1
GT_SEPARATOR = ", "  # CLUE joins the codes into one string and splits it again to score
SHOWN = 6  # codes / near misses named in a failure message before "+N more"


def _record(path: Path, where: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one raw record and add `codes`, the ground-truth string CLUE formats and scores.
    `where` locates it in the file: "record N" in a JSON array, "line N" in JSON lines."""
    for name in ("hadm_id", "text", "icd_codes"):
        if name not in item:
            raise DataError(path, f"missing field {name!r} (fields present: {', '.join(sorted(item)) or 'none'})",
                            where=where)
    hadm_id = item["hadm_id"]
    # CLUE's generator writes hadm_id as text; MIMIC ids are integers, so converted files may hold numbers.
    if isinstance(hadm_id, bool) or not isinstance(hadm_id, (str, int)):
        raise DataError(path, f"field 'hadm_id' must be text or an integer, got {type(hadm_id).__name__}", where=where)
    where = f"{where} (hadm_id {hadm_id})"
    if not isinstance(item["text"], str):
        raise DataError(path, f"field 'text' must be text, got {type(item['text']).__name__}", where=where)
    if not isinstance(item["icd_codes"], list):
        raise DataError(path, f"field 'icd_codes' must be a list, got {type(item['icd_codes']).__name__}", where=where)
    codes = []
    for index, entry in enumerate(item["icd_codes"]):
        field = f"icd_codes[{index}]"
        if not isinstance(entry, dict):
            raise DataError(path, f"field {field!r} must be an object with a 'code', got {type(entry).__name__}",
                            where=where)
        if "code" not in entry:
            raise DataError(path, f"missing field '{field}.code'", where=where)
        if not isinstance(entry["code"], str):
            raise DataError(path, f"field '{field}.code' must be text, got {type(entry['code']).__name__}",
                            where=where)
        codes.append(entry["code"])
    return {"hadm_id": str(hadm_id), "text": item["text"], "icd_codes": item["icd_codes"],
            "codes": GT_SEPARATOR.join(codes)}


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" (+{len(items) - SHOWN} more)" if len(items) > SHOWN else "")


def _how_near(pred: str, gold: str) -> str:
    """How a near miss differs from its gold code. "Counted up" only for the gold code with its last digit
    raised (E11.65 for E11.64), the paper's failure; E10.65 for E10.10 is another subcode, not a count."""
    if is_code_increment(pred, gold):
        return "last digit counted up"
    if is_code_increment(gold, pred):
        return "last digit counted down"
    return "another code of the category"


class MeDiSumCode(Task):
    name = "medisumcode"
    answer_reader = "codes"
    credentialed = True  # MIMIC-derived (PhysioNet credentialed data use agreement)
    title = "MeDiSumCode"
    level = 2
    data_path = "MeDiSumCode/MeDiSumCode.json"
    credentialed = True  # MIMIC-derived: PhysioNet credentialed data
    metric_names = ("icd_em_p", "icd_em_r", "icd_em_f1", "icd_ap_p", "icd_ap_r", "icd_ap_f1", "valid_codes")
    floor_metrics = metric_names

    def load(self, data_dir: Path) -> LoadedTask:
        path = data_dir / self.data_path
        raw = read_json_records(path)  # CLUE's generator appends JSONL; its evaluator reads an array
        if not raw:
            raise DataError(path, "no records in file")
        # Validating first keeps error numbers in file order. Conversion is one-to-one, so shuffling the
        # converted list gives the same shots as CLUE's shuffle of the raw records (n=500 → record 376).
        records = [_record(path, where, item) for where, item in zip(raw.wheres, raw)]
        unique_ids(path, (r["hadm_id"] for r in records), "hadm_id", raw.wheres)
        shots, scored = split_shots(records, N_SHOTS, self.profile.shots_for(self.name))
        as_sample = lambda r: Sample(self.name, r["hadm_id"], r, r["codes"])  # noqa: E731
        # A dotted gold code is kept as CLUE kept it: predictions are undotted, so it never matches exactly.
        return LoadedTask(tuple(map(as_sample, shots)), tuple(map(as_sample, scored)), path)

    def prompt(self, sample: Sample, shots: Sequence[Sample]) -> Prompt:
        return self.few_shot_prompt(sample, shots, answer_field="codes")


    def score(self, sample: Sample, response: str, floors: Mapping[str, float]) -> SampleResult:
        gold = sample.reference.split(GT_SEPARATOR)  # as CLUE: "" gives [""], which nothing matches
        pred = extract_codes(response)
        em, ap, valid = exact_match(pred, gold), approximate_match(pred, gold), valid_rate(pred)
        metrics: dict[str, float | None] = dict(zip(self.metric_names, (*em, *ap, valid)))
        not_computed = {} if valid is not None else {"valid_codes": "simple-icd-10-cm is not installed"}
        invalid = list(dict.fromkeys(invalid_codes(pred)))
        misses = near_misses(pred, gold)
        details = {"predicted": pred, "gold": gold, "invalid": invalid, "near_misses": [list(m) for m in misses]}

        passed, verdict = self._verdict(metrics, floors, pred, gold)
        if passed:
            return SampleResult(metrics, True, verdict, details, not_computed)
        why = [verdict]
        if not pred:
            why.append("no ICD-10 code found in the response" + ("" if response.strip() else " (empty response)"))
        if gold == [""]:
            why.append("the sample has no gold codes, so nothing can match")
        if invalid:
            why.append(f"not in ICD-10-CM: {_listed([dotted(c) for c in invalid])}")
        if misses:
            named = [f"{dotted(p)} predicted for gold {dotted(g)} ({_how_near(p, g)})" for p, g in misses]
            why.append(f"near misses: {_listed(named)}: same category, wrong digits after it, "
                       "the typical coding failure the CLUE paper names")
        return SampleResult(metrics, False, "; ".join(why), details, not_computed)

    def _verdict(self, metrics: Mapping[str, float | None], floors: Mapping[str, float],
                 pred: Sequence[str], gold: Sequence[str]) -> tuple[bool, str]:
        """Floors configured for this task's metrics must all hold; without any, EM F1 must be above 0.

        EM F1 > 0 means at least one gold code was reproduced exactly: the least a coding answer
        must achieve, and a check a person can verify at a glance. Category-level credit (AP) stays
        in the metrics; a sample whose only hits are near misses fails and the message says so.
        """
        configured = {m: f for m, f in floors.items() if m in self.metric_names}
        if not configured:
            if metrics["icd_em_f1"]:
                hits = sum(g in set(pred) for g in gold)
                return True, f"exact-match F1 {metrics['icd_em_f1']:.3f} > 0 ({hits} of {len(gold)} gold codes predicted)"
            return False, f"no predicted code matches a gold code exactly (exact-match F1 0, {len(pred)} codes predicted)"
        # A metric that could not be computed (no ICD-10-CM table) is not held against the sample.
        checked = [(m, v, f) for m, f in configured.items() if (v := metrics[m]) is not None]
        unmet = [f"{m} {shown_against(v, f)} < floor {f}" for m, v, f in checked if v < f]
        if unmet:
            return False, ", ".join(unmet)
        return True, ", ".join(f"{m} {shown_against(v, f)} >= floor {f}" for m, v, f in checked) or "no computable floor"
