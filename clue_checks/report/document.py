"""The report of a run: one frozen, versioned value, built once (`build.build_report`) and only written after.

    report = build_report(records, facts)          # records + plain run facts -> Report
    json.dumps(report.as_dict())                   # clue-report.json (schema "clue-report", version 1)
    Report.from_dict(data, records)                # the same value, read back from a report folder

Every writer (JSON, Markdown, HTML, JUnit, the terminal) reads a `Report` and nothing else; the verdict is
a field decided by the builder, never re-decided by a writer. The JSON's shape is documented in
docs/report.md and checked in the tests against `report_schema.json`. A change of shape that a reader of
an older report would misread raises `SCHEMA_VERSION`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from clue_checks.record import SampleRecord
from clue_checks.report.numbers.task_gates import GateResult
from clue_checks.report.numbers.task_summary import MetricSummary, TaskSummary
from clue_checks.report.compare.baseline import baseline_of
from clue_checks.report.compare.gates import CompareGateResult
from clue_checks.report.numbers.levels import LevelScore, level_of_key
from clue_checks.report.numbers.thresholds import CompareGate, Gate, ThresholdsError, parse
from clue_checks.report.verdict import Verdict
from clue_checks.errors import ReportError

SCHEMA = "clue-report"
SCHEMA_VERSION = 1


class ReportFormatError(ReportError, ValueError):
    """A JSON document that is not a report this version can read; the message says which part and why."""


@dataclass(frozen=True)
class Comparison:
    """The run against its baseline.

    `section`: `report["comparison"]` as written (None: no comparison asked and no comparison gate);
    `gates`: the comparison gates, judged; `error`: the run asked to be compared and could not be (the
    baseline unreadable, the manifests not comparable): the run is then unavailable, whatever its verdict.
    `base_records`: the baseline's records, to show each sample's baseline answer (not in the JSON).
    """

    section: Mapping[str, Any] | None = None
    gates: tuple[CompareGateResult, ...] = ()
    error: str | None = None
    base_records: tuple[SampleRecord, ...] = ()

    @property
    def compared(self) -> bool:
        return self.section is not None and "tasks" in self.section


@dataclass(frozen=True)
class Report:
    """Everything a run's report says. Built by `build.build_report`; writers only read it."""

    run: Mapping[str, Any]  # what ran: model, endpoint, profile, settings, seeds (plain JSON values)
    manifest: Mapping[str, Any]  # provenance: data hashes, prompts, template, versions, thresholds, times
    tasks: tuple[TaskSummary, ...]
    levels: tuple[LevelScore, ...]
    gates: tuple[GateResult, ...]
    verdict: Verdict
    requests: Mapping[str, int] = field(default_factory=dict)  # what went over the wire (REQUEST_COUNTS)
    warnings: tuple[str, ...] = ()
    kinds: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # per task: samples per failure kind
    comparison: Comparison = Comparison()
    performance: Mapping[str, Any] | None = None  # how the run went (run_stats.performance); None: not known
    store: Mapping[str, Any] | None = None  # the response store's problems (run_stats.store_section)
    records: Mapping[str, tuple[SampleRecord, ...]] = field(default_factory=dict)  # per task; predictions/, not JSON
    not_run: Mapping[str, str] = field(default_factory=dict)  # selected tasks whose data was absent: task -> why
    schema_version: int = SCHEMA_VERSION

    def titles(self) -> dict[str, str]:
        return {t.task: t.title for t in self.tasks}

    def records_to_write(self) -> dict[str, tuple[SampleRecord, ...]]:
        """The records with the baseline's answer to each sample (where the baseline has it)."""
        base = {(r.task, r.sample_id): r for r in self.comparison.base_records}
        if not base:
            return dict(self.records)
        return {task: tuple(dataclasses.replace(r, baseline=baseline_of(base[(r.task, r.sample_id)]))
                            if (r.task, r.sample_id) in base else r for r in rows)
                for task, rows in self.records.items()}

    # -- JSON -------------------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        tasks = {t.task: t.as_dict() for t in self.tasks}
        for task, counts in self.kinds.items():
            if task in tasks:
                tasks[task]["kinds"] = dict(counts)
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "schema_version": self.schema_version,
            "run": dict(self.run),
            "manifest": dict(sorted(self.manifest.items())),
            "warnings": list(self.warnings),
            "requests": dict(self.requests),
            "tasks": tasks,
            "levels": {lv.key: lv.as_dict() for lv in self.levels},
            "gates": [g.as_dict() for g in self.gates],
            "verdict": self.verdict.word,
            "verdict_reasons": list(self.verdict.reasons),
        }
        if self.performance is not None:
            out["performance"] = dict(self.performance)
            out["store"] = None if self.store is None else dict(self.store)
        if self.comparison.section is not None:
            out["comparison"] = dict(self.comparison.section)
        if self.not_run:
            out["not_run"] = dict(self.not_run)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], records: Mapping[str, Sequence[SampleRecord]] | None = None
                  ) -> Report:
        """The report a `clue-report.json` holds (its records: from `predictions/`). Raises ReportFormatError."""
        if not isinstance(data, Mapping):
            raise ReportFormatError(f"expected a JSON object, got {type(data).__name__}")
        version = data.get("schema_version")
        if version is not None and (not isinstance(version, int) or version > SCHEMA_VERSION):
            raise ReportFormatError(f"schema_version {version!r}: written by a newer clue-checks (this one reads up "
                                    f"to {SCHEMA_VERSION}); upgrade clue-checks")
        try:
            tasks = tuple(task_from_dict(name, t) for name, t in (data.get("tasks") or {}).items())
            levels = tuple(level_from_dict(key, lv) for key, lv in (data.get("levels") or {}).items())
            gates = tuple(gate_from_dict(g) for g in data.get("gates") or ())
            section = data.get("comparison")
            comparison = Comparison(MappingProxyType(dict(section)) if section is not None else None,
                                    tuple(compare_gate_from_dict(g) for g in (section or {}).get("gates") or ()))
            kinds = {name: dict(t["kinds"]) for name, t in (data.get("tasks") or {}).items()
                     if isinstance(t.get("kinds"), Mapping)}
            verdict = Verdict(str(data["verdict"]), tuple(data.get("verdict_reasons") or ()))
        except (KeyError, TypeError, ValueError, AttributeError, ThresholdsError) as exc:
            raise ReportFormatError(f"not a clue-checks report ({exc.__class__.__name__}: {exc})") from None
        by_task = {task: tuple(sorted(rows, key=lambda r: r.index)) for task, rows in (records or {}).items()}
        return cls(run=MappingProxyType(dict(data.get("run") or {})),
                   manifest=MappingProxyType(dict(data.get("manifest") or {})), tasks=tasks, levels=levels,
                   gates=gates, verdict=verdict, requests=MappingProxyType(dict(data.get("requests") or {})),
                   warnings=tuple(data.get("warnings") or ()), kinds=MappingProxyType(kinds), comparison=comparison,
                   performance=data.get("performance"), store=data.get("store"),
                   records=MappingProxyType(by_task),
                   not_run=MappingProxyType({str(k): str(v) for k, v in (data.get("not_run") or {}).items()}),
                   schema_version=int(version or SCHEMA_VERSION))


# -- reading the parts back ---------------------------------------------------------------------


def _fields(cls: type, data: Mapping[str, Any], **renamed: Any) -> dict[str, Any]:
    """The dataclass fields of `cls` that `data` (an `as_dict` output) has under the same name, plus `renamed`."""
    names = {f.name for f in dataclasses.fields(cls)}
    out = {k: v for k, v in data.items() if k in names}
    out.update(renamed)
    return out


def _pair(value: Any) -> tuple[Any, Any]:
    return (value[0], value[1]) if isinstance(value, (list, tuple)) and len(value) == 2 else (None, None)


def metric_from_dict(name: str, data: Mapping[str, Any]) -> MetricSummary:
    low, high = _pair(data.get("ci95"))
    return MetricSummary(name, data.get("value"), low, high, int(data.get("n") or 0), data.get("not_computed"),
                         str(data.get("method") or ""))


def task_from_dict(name: str, data: Mapping[str, Any]) -> TaskSummary:
    requests = data.get("requests") or {}
    return TaskSummary(
        task=name, title=str(data["title"]), level=_task_level(data["level"]), n_samples=int(data["n_samples"]),
        n_passed=int(data["n_passed"]), n_failed=int(data["n_failed"]), n_errored=int(data["n_errored"]),
        requests_sent=int(requests.get("sent", 0)), requests_stored=int(requests.get("from_store", 0)),
        requests_shared=int(requests.get("shared", 0)),
        metrics=tuple(metric_from_dict(m, v) for m, v in (data.get("metrics") or {}).items()),
        failing=tuple(data.get("failing_samples") or ()), errored=tuple(data.get("errored_samples") or ()),
        n_selected=int(data.get("n_selected") or 0), n_total=data.get("n_total"))


def _task_level(value: Any) -> int | str | None:
    """A task row's level: CLUE's number, an own level's name, or None (a user's task beside the levels)."""
    return value if value is None or isinstance(value, str) else int(value)


def level_from_dict(key: str, data: Mapping[str, Any]) -> LevelScore:
    low, high = _pair(data.get("ci95"))
    level = level_of_key(key)
    fields = _fields(LevelScore, data, level=level, ci_low=low, ci_high=high)
    fields["incomplete"] = tuple(fields.get("incomplete") or ())
    fields["components"] = dict(fields.get("components") or {})
    if isinstance(level, str):  # an own level's parts are in its definition: {task: ["task.metric"]}
        fields["parts"] = tuple(tuple(p.split(".", 1)) for ps in (data.get("definition") or {}).values() for p in ps)
    return LevelScore(**fields)


def _one_gate(section: str, name: str) -> Any:
    key, _, rule = name.partition(" ")
    parsed = parse(f'[{section}]\n"{key}" = "{rule}"\n', "report")
    return (parsed.gates if section == "gate" else parsed.compare)[0]


def gate_from_dict(data: Mapping[str, Any]) -> GateResult:
    gate: Gate = _one_gate("gate", str(data["gate"]))
    return GateResult(gate, str(data["status"]), data.get("value"), str(data.get("detail") or ""))


def compare_gate_from_dict(data: Mapping[str, Any]) -> CompareGateResult:
    gate: CompareGate = _one_gate("compare", str(data["gate"]))
    low, high = _pair(data.get("ci95"))
    drop = data.get("detectable_drop")
    renamed: dict[str, Any] = {"gate": gate, "ci_low": low, "ci_high": high}
    if "one_sided_low95" in data:
        renamed["one_sided_low"] = data["one_sided_low95"]
    if isinstance(drop, Mapping):
        renamed["detectable_drop"] = drop.get("value")
        renamed["detectable_how"] = drop.get("how") or ""
    fields = _fields(CompareGateResult, data, **renamed)
    return CompareGateResult(**fields)
