"""The task file: a user's own task in TOML, read and checked in one place (docs/own-tasks.md).

```toml
[task]
name = "discharge-qa"            # the sample ids' prefix: discharge-qa:<id>
title = "Discharge questions"

[data]
file = "discharge.jsonl"         # beside this file; .jsonl, .csv or .xlsx
id = "id"
inputs = ["note", "question"]
reference = "answer"

[prompt]
system = "You answer questions about discharge letters."
user = "{{ note }}\\n\\nQuestion: {{ question }}"

[answer]
parser = "choices"
choices = ["yes", "no"]

[metric]
name = "accuracy"
kind = "binary"
```

Everything wrong with a file is found here, before any data is read or request sent: an unknown key, a
missing one, a value of the wrong type, a template that does not parse or names a field the data section
does not declare, a metric not in the table or of the wrong kind. `TaskFileError` names the file, the line
and the fix. The columns themselves are checked when the data is read (`file_task.py`), still before any
request.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from clue_checks.report.numbers.thresholds import ThresholdsError, parse
from clue_checks.tasks.answers import PARSER_KINDS, AnswerParser
from clue_checks.tasks.task_metrics import METRICS, MetricDef
from clue_checks.tasks.taskfile_reader import Reader, TaskFileError
from clue_checks.triage.kinds import kinds_for_answers

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,47}$")
# A level name that reads as CLUE's own: "1", "Level 2", "level-1", "CLUE", "clue-level-1", ...
CLUE_LEVEL = re.compile(r"^\s*(clue|(level[\s_-]*)?[0-9]+)", re.IGNORECASE)
DATA_SUFFIXES = (".jsonl", ".csv", ".xlsx")
SHOT_ORDERS = ("as-written", "shuffle-seed-1")

# section -> key -> (type(s), required). "*" in a section: any key (metric names, field names).
_SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "task": {"name": ((str,), True), "title": ((str,), False), "description": ((str,), False),
             "credentialed": ((bool,), False), "kinds": ((list,), False), "level": ((str,), False)},
    "data": {"file": ((str,), True), "sheet": ((str,), False), "id": ((str,), True), "inputs": ((list,), True),
             "reference": ((str,), True), "cluster": ((str,), False)},
    "prompt": {"system": ((str,), False), "user": ((str,), True), "assistant": ((str,), False),
               "assistant_prefix": ((str,), False)},
    "shots": {"ids": ((list,), False), "inline": ((list,), False), "order": ((str,), False)},
    "generation": {"max_new_tokens": ((int,), True), "stop": ((list,), False)},
    "answer": {"parser": ((str,), True), "choices": ((list,), False), "pattern": ((str,), False),
               "separator": ((str,), False)},
    "metric": {"name": ((str,), True), "kind": ((str,), True)},
    "sample": {}, "gate": {}, "compare": {},
}
_REQUIRED_SECTIONS = ("task", "data", "prompt", "generation", "answer", "metric")


@dataclass(frozen=True)
class TaskDefinition:
    """A task file, checked. Plain values only: `FileTask` turns it into samples, prompts and scores."""

    path: Path
    sha256: str  # of the file's bytes: the task's identity in the manifest
    name: str
    title: str
    data_file: Path
    id_field: str
    input_fields: tuple[str, ...]
    reference_field: str
    user_template: str
    max_new_tokens: int
    parser: AnswerParser
    metric: MetricDef
    system: str = ""
    assistant_template: str | None = None  # a shot's answer turn (default: the reference field as written)
    assistant_prefix: str = ""
    cluster_field: str | None = None
    sheet: str | None = None
    shot_ids: tuple[str, ...] = ()
    inline_shots: tuple[Mapping[str, str], ...] = ()
    shot_order: str = "as-written"
    stop: tuple[str, ...] = ()
    separator: str = ","
    floors: Mapping[str, float] = field(default_factory=dict)
    gates: Mapping[str, str] = field(default_factory=dict)
    compare: Mapping[str, str] = field(default_factory=dict)
    kinds: tuple[str, ...] = ()  # the failure kinds looked for (`kinds_for_answers`, or those [task] kinds lists)
    credentialed: bool = False
    level: str | None = None  # a level of the user's own; None: reported beside CLUE's levels
    description: str = ""

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field a record must carry."""
        extra = (self.cluster_field,) if self.cluster_field else ()
        return tuple(dict.fromkeys((self.id_field, *self.input_fields, self.reference_field, *extra)))


def read_task_file(path: Path | str) -> TaskDefinition:
    """Read and check a task file; raises TaskFileError naming the file, the line and the fix."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TaskFileError(path, f"cannot read the task file ({exc.strerror})",
                            fix="check the path (a marker's path is relative to its test module)") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TaskFileError(path, "not UTF-8", fix="save the file as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        raise TaskFileError(path, f"not valid TOML ({exc})", line=line,
                            fix="see https://toml.io for the syntax") from None
    return _definition(path, text, data, hashlib.sha256(raw).hexdigest())


def _definition(path: Path, text: str, data: Mapping[str, Any], sha256: str) -> TaskDefinition:
    r = Reader(path, text, _SCHEMA)
    _check_sections(r, data)
    task, data_t, prompt = r.table(data, "task"), r.table(data, "data"), r.table(data, "prompt")
    shots, generation = r.table(data, "shots"), r.table(data, "generation")
    answer, metric_t = r.table(data, "answer"), r.table(data, "metric")
    name = task["name"]
    if not NAME.match(name):
        raise r.fail(f"task name {name!r} is not a plain name",
                     "use lower-case letters, digits, '-' and '_', starting with a letter (at most 48)", "task", "name")
    data_file, inputs, declared = _data(r, data_t)
    user, assistant = prompt["user"], prompt.get("assistant")
    _check_template(r, "user", user, declared)
    if assistant is not None:
        _check_template(r, "assistant", assistant, declared)
    max_new, stop = _generation(r, generation)
    parser = _parser(r, answer)
    metric = _metric(r, metric_t, parser)
    shot_ids, inline = _shots(r, shots, inputs, data_t["reference"])
    order = shots.get("order", "as-written")
    if order not in SHOT_ORDERS:
        raise r.fail(f"shot order {order!r} is unknown", f"use one of {', '.join(SHOT_ORDERS)}", "shots", "order")
    floors, gates, compare = _thresholds(r, data, metric)
    return TaskDefinition(
        path=path, sha256=sha256, name=name, title=task.get("title", name), data_file=data_file,
        id_field=data_t["id"], input_fields=inputs, reference_field=data_t["reference"], user_template=user,
        max_new_tokens=max_new, parser=parser, metric=metric, system=prompt.get("system", ""),
        assistant_template=assistant, assistant_prefix=prompt.get("assistant_prefix", ""),
        cluster_field=data_t.get("cluster"), sheet=data_t.get("sheet"), shot_ids=shot_ids, inline_shots=inline,
        shot_order=order, stop=stop, separator=answer.get("separator", ","), floors=floors, gates=gates,
        compare=compare, kinds=_kinds(r, task, parser, metric), credentialed=task.get("credentialed", False),
        level=_level(r, task), description=task.get("description", ""))


def _check_sections(r: Reader, data: Mapping[str, Any]) -> None:
    for section, value in data.items():
        if section not in _SCHEMA:
            table = isinstance(value, dict)  # a [section] header, or a key written above every header
            raise r.fail(f"unknown {'section' if table else 'key'} {section!r}",
                         f"use the sections {', '.join(f'[{s}]' for s in _SCHEMA)}",
                         section if table else None, None if table else section)
    for section in _REQUIRED_SECTIONS:
        if section not in data:
            raise TaskFileError(r.path, f"no [{section}] section", fix=f"add [{section}] (docs/own-tasks.md)")


def _data(r: Reader, data_t: Mapping[str, Any]) -> tuple[Path, tuple[str, ...], tuple[str, ...]]:
    """The data file, the input fields, and every field the templates may use."""
    data_file = r.path.parent / data_t["file"]
    if data_file.suffix.lower() not in DATA_SUFFIXES:
        raise r.fail(f"data file {data_t['file']!r} is not .jsonl, .csv or .xlsx", "convert it to one of those",
                     "data", "file")
    if data_file.suffix.lower() == ".xlsx" and "sheet" not in data_t:
        raise r.fail("an .xlsx data file needs the worksheet's name", 'add sheet = "Sheet1" to [data]', "data", "file")
    inputs = r.strings(data_t, "data", "inputs")
    if not inputs:
        raise r.fail("[data] inputs is empty", "name the fields the template uses", "data", "inputs")
    cluster = (data_t["cluster"],) if "cluster" in data_t else ()
    return data_file, inputs, (data_t["id"], *inputs, data_t["reference"], *cluster)


def _generation(r: Reader, generation: Mapping[str, Any]) -> tuple[int, tuple[str, ...]]:
    max_new = generation["max_new_tokens"]
    if not 1 <= max_new <= 100_000:
        raise r.fail(f"max_new_tokens = {max_new} is out of range", "use a number from 1 to 100000", "generation",
                     "max_new_tokens")
    stop = r.strings(generation, "generation", "stop")
    if any(not s for s in stop):
        raise r.fail("an empty stop string would stop at once", "remove it", "generation", "stop")
    return max_new, stop


def _kinds(r: Reader, task: Mapping[str, Any], parser: AnswerParser, metric: MetricDef) -> tuple[str, ...]:
    """The failure kinds looked for: those the parser and metric make meaningful, or the ones listed of them."""
    meaningful = kinds_for_answers(parser.kind, metric.kind, batched=metric.batched)
    if "kinds" not in task:
        return meaningful
    kinds = r.strings(task, "task", "kinds")
    unknown = [k for k in kinds if k not in meaningful]
    if unknown:
        raise r.fail(f"failure kind(s) {', '.join(unknown)} cannot be looked for with the {parser.kind} parser "
                     f"and the {metric.kind} metric {metric.name}", f"choose from {', '.join(meaningful)}",
                     "task", "kinds")
    return tuple(k for k in meaningful if k in kinds)  # the table's order, as everywhere


def _level(r: Reader, task: Mapping[str, Any]) -> str | None:
    """A level of the user's own, averaged over the tasks naming it; never one of CLUE's (1, 2)."""
    level = task.get("level")
    if level is None:
        return None
    if CLUE_LEVEL.match(level):
        raise r.fail(f"level {level!r} names one of CLUE's levels, which average CLUE's tasks only",
                     'name a level of your own, e.g. level = "in-house"; without one the task is reported beside '
                     "CLUE's levels", "task", "level")
    if not NAME.match(level):
        raise r.fail(f"level {level!r} is not a plain name", 'use lower-case letters, digits, \'-\' and \'_\', '
                     'starting with a letter, e.g. level = "in-house"', "task", "level")
    return level


def _check_template(r: Reader, key: str, source: str, declared: Sequence[str]) -> None:
    from jinja2 import TemplateSyntaxError, meta

    from clue_checks.tasks.templates import environment

    try:
        parsed = environment().parse(source)
    except TemplateSyntaxError as exc:
        raise r.fail(f"the {key} template does not parse: {exc.message} (template line {exc.lineno})",
                     "fix the Jinja2 syntax: fields are written {{ field }}", "prompt", key) from None
    missing = sorted(meta.find_undeclared_variables(parsed) - set(declared))
    if missing:
        raise r.fail(f"the {key} template uses {', '.join(missing)}, which [data] does not declare",
                     f"add {', '.join(repr(m) for m in missing)} to [data] inputs, or fix the name "
                     f"(declared: {', '.join(declared)})", "prompt", key)


def _parser(r: Reader, answer: Mapping[str, Any]) -> AnswerParser:
    kind = answer["parser"]
    if kind not in PARSER_KINDS:
        raise r.fail(f"answer parser {kind!r} is unknown", f"use one of {', '.join(PARSER_KINDS)}", "answer", "parser")
    choices = r.strings(answer, "answer", "choices")
    if kind == "choices" and not choices:
        raise r.fail("the choices parser needs its choices", 'add choices = ["yes", "no"] to [answer]', "answer",
                     "parser")
    if kind == "regex":
        if "pattern" not in answer:
            raise r.fail("the regex parser needs a pattern", 'add pattern = "Answer: (\\\\w+)" to [answer]', "answer",
                         "parser")
        try:
            re.compile(answer["pattern"])
        except re.error as exc:
            raise r.fail(f"pattern is not a regular expression ({exc})", "fix the pattern (Python's re syntax)",
                         "answer", "pattern") from None
    for key in ("choices", "pattern"):
        if key in answer and kind != {"choices": "choices", "pattern": "regex"}[key]:
            raise r.fail(f"{key} is not read by the {kind} parser", f"remove {key}, or use the matching parser",
                         "answer", key)
    return AnswerParser(kind, choices, answer.get("pattern"))  # type: ignore[arg-type]


def _metric(r: Reader, table: Mapping[str, Any], parser: AnswerParser) -> MetricDef:
    name, kind = table["name"], table["kind"]
    metric = METRICS.get(name)
    if metric is None:
        raise r.fail(f"metric {name!r} is not in the metric table", f"use one of {', '.join(METRICS)}", "metric",
                     "name")
    if kind not in ("binary", "continuous"):
        raise r.fail(f"metric kind {kind!r} is unknown", 'use "binary" (0/1 per sample) or "continuous"', "metric",
                     "kind")
    if kind != metric.kind:
        raise r.fail(f"{name} is {metric.kind}, not {kind}",
                     f'write kind = "{metric.kind}" (the kind picks the statistics), or choose a {kind} metric: '
                     + ", ".join(m.name for m in METRICS.values() if m.kind == kind), "metric", "kind")
    if parser.kind not in metric.parsers:
        raise r.fail(f"{name} cannot score the {parser.kind} parser's answers",
                     f"use parser one of {', '.join(metric.parsers)} for {name}", "answer", "parser")
    return metric


def _shots(r: Reader, shots: Mapping[str, Any], inputs: Sequence[str],
           reference: str) -> tuple[tuple[str, ...], tuple[Mapping[str, str], ...]]:
    ids = r.strings(shots, "shots", "ids")
    inline = shots.get("inline", [])
    checked = []
    for number, shot in enumerate(inline, start=1):
        if not isinstance(shot, dict) or not all(isinstance(v, str) for v in shot.values()):
            raise r.fail(f"inline shot {number} must be a table of text fields", "write it as [[shots.inline]]",
                         "shots")
        needed = [f for f in (*inputs, reference) if f not in shot]
        if needed:
            raise r.fail(f"inline shot {number} lacks {', '.join(needed)}",
                         f"give every input and the reference ({reference}) of an inline shot", "shots")
        checked.append(dict(shot))
    return ids, tuple(checked)


def _thresholds(r: Reader, data: Mapping[str, Any], metric: MetricDef) -> tuple[dict, dict, dict]:
    """Floors, gates and comparison gates on this task's metrics; their values are checked by the thresholds
    parser when they are merged (`TaskDefinition` -> `Thresholds`), their metrics here."""
    names = () if metric.batched else metric.family
    batched = metric.family if metric.batched else ()
    out = []
    for section in ("sample", "gate", "compare"):
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise r.fail(f"{section} must be a table", f"write it as [{section}]", None, section)
        for key, value in table.items():
            if key not in (*names, *batched):
                raise r.fail(f"[{section}] names {key!r}, which this task does not compute",
                             f"use one of {', '.join((*names, *batched))} (the metric's family)", section, key)
            if section == "sample" and metric.kind == "binary":
                raise r.fail(f"[sample] floor on {key}, a 0/1 metric: a sample passes by being right",
                             f'set a task gate instead: [gate] {key} = ">= 0.8"', section, key)
            if section == "sample" and key in batched:
                raise r.fail(f"[sample] floor on {key}, computed over the whole task at the end of the run",
                             f'set a task gate instead: [gate] {key} = ">= 0.8"', section, key)
        out.append(dict(table))
    _check_threshold_values(r, out)
    return out[0], out[1], out[2]


def _check_threshold_values(r: Reader, tables: Sequence[Mapping[str, Any]]) -> None:
    """The values in the thresholds file's syntax, checked by its parser (one syntax, one set of checks)."""
    for section, table in zip(("sample", "gate", "compare"), tables):
        for key, value in table.items():
            try:
                parse(f"[{section}]\n{json.dumps('task.' + key)} = {json.dumps(value)}\n", "")
            except ThresholdsError as exc:
                problem = str(exc).split(": ", 1)[-1].replace("task.", "")
                raise r.fail(problem, "see the thresholds syntax (docs/own-tasks.md#floors-and-gates)", section,
                             key) from None
