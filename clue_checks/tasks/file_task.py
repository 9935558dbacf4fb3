"""A task file's task on the public `Task` API: the same samples, prompts, scores and verdicts as a
hand-written task would give, built from a checked `TaskDefinition`.

    DischargeQA = task_class(read_task_file("tasks/discharge.toml"))   # a Task subclass
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from clue_checks.data.errors import DataError
from clue_checks.data.readers import Records, read_csv, read_json_records, read_xlsx, require_file, unique_ids
from clue_checks.metrics import BatchedValues
from clue_checks.metrics.icd10 import extract_codes, invalid_codes
from clue_checks.tasks.base import LoadedTask, Prompt, Sample, SampleResult, Task, Turn, floor_verdict
from clue_checks.tasks.shots import SHOT_SEED
from clue_checks.tasks.taskfile import TaskDefinition, read_task_file


class FileTask(Task):
    """The task of one task file. Subclasses are made by `task_class`; `definition` is the checked file."""

    definition: ClassVar[TaskDefinition]
    level = None  # never one of CLUE's levels: beside them, or a level of the user's own (`[task] level`)

    # -- data ------------------------------------------------------------------------------

    def load(self, data_dir: Path) -> LoadedTask:
        """The records of the task's own data file (`data_dir` is CLUE's folder; a task file names its own)."""
        d = self.definition
        records = _read(d)
        ids = [r[d.id_field] for r in records]
        unique_ids(d.data_file, ids, d.id_field, records.wheres)
        by_id = dict(zip(ids, records))
        unknown = [i for i in d.shot_ids if i not in by_id]
        if unknown:
            raise DataError(d.data_file, f"shot id(s) {', '.join(map(repr, unknown))} not in the data",
                            hint=f"{d.path}: [shots] ids names rows by their {d.id_field!r} field")
        shots = [self._sample(by_id[i]) for i in d.shot_ids]
        shots += [self._sample({d.id_field: f"inline-shot-{n}", **shot}) for n, shot in enumerate(d.inline_shots, 1)]
        if d.shot_order == "shuffle-seed-1":
            random.Random(SHOT_SEED).shuffle(shots)
        used = set(d.shot_ids)
        scored = tuple(self._sample(r) for r in records if r[d.id_field] not in used)
        if not scored:
            raise DataError(d.data_file, "no samples left to score", hint="the shots took every row")
        return LoadedTask(tuple(shots), scored, d.data_file, extra_sources=(d.path,))

    def _sample(self, record: Mapping[str, str]) -> Sample:
        d = self.definition
        return Sample(self.name, record[d.id_field], record, record[d.reference_field])

    # -- prompting -------------------------------------------------------------------------

    @cached_property
    def _templates(self) -> tuple[Any, Any]:
        from clue_checks.tasks.templates import environment

        d = self.definition
        env = environment()
        answer = d.assistant_template if d.assistant_template is not None else "{{ %s }}" % d.reference_field
        return env.from_string(d.user_template), env.from_string(answer)

    def prompt(self, sample: Sample, shots: Sequence[Sample]) -> Prompt:
        d = self.definition
        user, answer = self._templates
        messages = [Turn("system", d.system)] if d.system else []
        for shot in shots:
            messages += [Turn("user", user.render(**shot.record)), Turn("assistant", answer.render(**shot.record))]
        messages.append(Turn("user", user.render(**sample.record)))
        return Prompt(tuple(messages), max_new_tokens=d.max_new_tokens,
                      assistant_prefix=d.assistant_prefix if self.profile.prefills_assistant_prefix else "",
                      stop_sequences=d.stop)

    # -- scoring ---------------------------------------------------------------------------

    def score(self, sample: Sample, response: str, floors: Mapping[str, float]) -> SampleResult:
        d = self.definition
        metric = d.metric
        answer = d.parser.parse(response)
        details: dict[str, Any] = {"parsed_answer": list(answer) if isinstance(answer, tuple) else answer,
                                   **_kind_details(d, response, answer, sample.reference)}
        if metric.score is None:  # batched only (BERTScore): the sample is judged with the whole task
            return SampleResult({}, True, f"{metric.name} is computed over the whole task", details)
        computed = metric.score(answer, sample.reference, d.separator)
        values = {metric.name: computed[metric.name], **computed}  # the named metric first: the task's headline
        if metric.kind == "binary":
            right = values[metric.name] == 1.0
            if right:
                return SampleResult(values, True, f"answer {answer!r} matches the reference", details)
            why = (f"no answer read by the {d.parser.kind} parser" if answer is None
                   else f"answer {_short(answer)} is not the reference {sample.reference!r}")
            return SampleResult(values, False, why, details)
        passed, why = floor_verdict(values, floors, response, default=metric.name)
        return SampleResult(values, passed, why, details)

    def cluster_of(self, sample: Sample) -> str | None:
        field = self.definition.cluster_field
        return f"{self.name}:{sample.record[field]}" if field else None

    def batch_score(self, pairs: Sequence[tuple[str, str]]) -> dict[str, BatchedValues]:
        if not self.definition.metric.batched:
            return {}
        from clue_checks.tasks.summaries import bertscore_for

        return bertscore_for(self, [(_text(self.definition.parser.parse(r)), g) for r, g in pairs])


def _kind_details(d: TaskDefinition, response: str, answer: Any, reference: str) -> dict[str, Any]:
    """What the failure kinds read beside the parsed answer (triage/detectors.py), as CLUE's tasks give it:
    the choices a text names (`format`: none, `hedged`: several), a codes answer's gold and invalid codes."""
    if d.parser.kind == "choices":
        return {"named": list(d.parser.named(response))}
    if d.parser.kind == "codes":
        return {"predicted": list(answer or ()), "gold": extract_codes(reference),
                "invalid": list(dict.fromkeys(invalid_codes(answer or ())))}
    return {}


def _text(answer: Any) -> str:
    return "" if answer is None else answer if isinstance(answer, str) else ", ".join(answer)


def _short(answer: Any, limit: int = 80) -> str:
    text = repr(_text(answer))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read(d: TaskDefinition) -> Records:
    """The data file's records, every declared field present and text (numbers are written as text)."""
    path = d.data_file
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        records = read_xlsx(path, d.sheet or "", d.fields)
    else:
        require_file(path)
        if suffix == ".csv":
            header, records = read_csv(path)
            missing = [f for f in d.fields if f not in header]
            if missing:
                raise DataError(path, f"missing column(s) {', '.join(map(repr, missing))} "
                                      f"(header has: {', '.join(header)})", where="line 1",
                                hint=f"rename the column or fix [data] in {d.path}")
        else:
            records = read_json_records(path)
    if not records:
        raise DataError(path, "no records in file")
    out = Records()
    for where, record in zip(records.wheres, records):
        out.append(_checked(d, path, where, record))
        out.wheres.append(where)
    return out


def _checked(d: TaskDefinition, path: Path, where: str, record: Mapping[str, Any]) -> dict[str, str]:
    checked = {}
    for name in d.fields:
        value = record.get(name)
        if name not in record or value is None:
            present = ", ".join(sorted(k for k, v in record.items() if v is not None)) or "none"
            raise DataError(path, f"missing field {name!r} (fields present: {present})", where=where,
                            hint=f"add it to the data, or fix [data] in {d.path}")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise DataError(path, f"field {name!r} must be text or a number, got {type(value).__name__}",
                            where=where)
        checked[name] = value if isinstance(value, str) else str(value)
    if not checked[d.id_field].strip():
        raise DataError(path, f"empty id in field {d.id_field!r}", where=where)
    return checked


def task_class(definition: TaskDefinition) -> type[Task]:
    """A `Task` subclass for one checked task file (class attributes as the built-in tasks have them)."""
    metric = definition.metric
    family = () if metric.batched else (metric.name, *(m for m in metric.family if m != metric.name))
    return type(f"FileTask[{definition.name}]", (FileTask,), {
        "definition": definition,
        "name": definition.name,
        "title": definition.title,
        "data_path": str(definition.data_file),
        "credentialed": definition.credentialed,
        "level": definition.level,  # a level of the user's own (a name), or None: beside CLUE's levels
        "metric_names": family,
        "batched_metrics": (metric.name, *(m for m in metric.family if m != metric.name)) if metric.batched else (),
        "floor_metrics": family if metric.kind == "continuous" else (),
        "floor_is_the_check": metric.kind == "continuous" and not metric.batched,
        "task_file": definition.path,
        "identity": definition.sha256,
        "answer_reader": definition.parser.kind,
        "failure_kinds": definition.kinds,
        "overlap_metrics": family if metric.kind == "continuous" else (),
    })


def load_task_file(path: Path | str) -> type[Task]:
    """The `Task` class of a task file; raises TaskFileError naming the file, the line and the fix."""
    return task_class(read_task_file(path))
