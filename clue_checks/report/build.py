"""The one finish line: sample records + plain run facts (+ the baseline) -> one frozen `Report`.

    facts = RunFacts(run={...}, manifest={...}, specs=(TaskSpec("mednli", "MedNLI", 1, ("accuracy",)),),
                     gates=thresholds.gates, compare_gates=thresholds.compare)
    report = build_report(records, facts)                       # no baseline: comparison gates "not run"
    report = build_report(records, facts, baseline=BaselineFacts.of_folder(run_dir, source="base"))

The controller at the end of a run, `clue report merge` over shard folders and `clue report html` all come
here (and `clue compare` shares `compare.paired.paired`); the verdict is decided here, once (`verdict.decide`, over the
task gates and the comparison gates together). Pure: nothing is read or written, no pytest, and the
records given are not changed, so every section is unit-tested from plain values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from clue_checks.endpoint.types import REQUEST_COUNTS
from clue_checks.record import SampleRecord
from clue_checks.report.numbers.aggregate import AggregateResult, BatchScorer, TaskSpec, aggregate
from clue_checks.report.compare.baseline import NO_BASELINE, compare_with_baseline, not_compared, record_from_baseline
from clue_checks.report.document import Comparison, Report
from clue_checks.report.compare.manifest_check import ComparabilityError, require_comparable
from clue_checks.report.numbers import run_stats
from clue_checks.report.numbers.kinds_table import counts_per_task
from clue_checks.report.numbers.thresholds import CompareGate, Gate
from clue_checks.report.verdict import decide

BASELINE_NAME = "embedded parameterless baseline"  # what Run.describe() calls it
NOT_COMPARABLE = "not compared: the runs are not comparable (see the error above)"


@dataclass(frozen=True)
class RunFacts:
    """What the report needs to know of a run besides its records: plain values only."""

    run: Mapping[str, Any]  # report["run"]: model, endpoints, profile, settings, seeds, ...
    manifest: Mapping[str, Any]  # report["manifest"] (manifest.build_manifest)
    specs: tuple[TaskSpec, ...]  # the tasks, in report order
    gates: tuple[Gate, ...] = ()
    compare_gates: tuple[CompareGate, ...] = ()
    not_selected: tuple[str, ...] = ()  # tasks an explicit --clue-tasks left out (their gates: outside the verdict)
    deferred: str | None = None  # a shard: why no gate is decided here
    pass_blockers: tuple[str, ...] = ()  # why the verdict cannot be a pass whatever the gates
    warnings: tuple[str, ...] = ()
    requests: Mapping[str, int] | None = None  # the scheduler's counts; None: the records' sources stand in
    request_stats: Mapping[str, Any] | None = None  # the scheduler's stats (run_stats.merge_stats)
    duration_s: float | None = None  # None: no `performance` / `store` sections (how the run went is not known)
    not_run: Mapping[str, str] = field(default_factory=dict)  # selected tasks whose data file is absent: task -> why


@dataclass(frozen=True)
class BaselineFacts:
    """The run this one is compared with.

    `records` None: the baseline's answers travel on this run's records (`SampleRecord.baseline`: a baseline
    endpoint answering in the same session, or the rows of a report that was compared); `rescore` then scores
    their batched metrics (BERTScore) with the run's own scorer, as the run's own answers are.
    `run` / `manifest` None: this run's own (the same session asked both models).
    `unavailable`: asked for and not to be had (an unreadable folder): every comparison gate is "not run" and
    the report carries the error.
    """

    described: Mapping[str, Any]  # report["comparison"]["baseline"]: source, model_id, ...
    records: tuple[SampleRecord, ...] | None = None
    run: Mapping[str, Any] | None = None
    manifest: Mapping[str, Any] | None = None
    force: bool = False
    rescore: bool = True
    unavailable: str | None = None

    @classmethod
    def of_report(cls, report: Mapping[str, Any], records: Iterable[SampleRecord], *, source: str,
                  force: bool = False) -> BaselineFacts:
        """A previous run's report folder (its clue-report.json and its records)."""
        run = report.get("run") or {}
        return cls({"source": source, "model_id": run.get("model_id"), "model_revision": run.get("model_revision")},
                   tuple(records), dict(run), dict(report.get("manifest") or {}), force)


def build_report(records: Iterable[SampleRecord], facts: RunFacts, *, baseline: BaselineFacts | None = None,
                 batch_score: BatchScorer | None = None) -> Report:
    """The report of a run. `batch_score`: computes the batched metrics (BERTScore) over each task's scored
    samples; None: the values the records carry are used (a merge that cannot recompute them)."""
    result = aggregate(records, facts.specs, facts.gates, batch_score=batch_score, not_selected=facts.not_selected,
                       deferred=facts.deferred, pass_blockers=facts.pass_blockers, not_run=dict(facts.not_run))
    comparison = _comparison(result, facts, baseline, batch_score)
    verdict = decide(result.gates, result.tasks, compare_gates=comparison.gates, pass_blockers=facts.pass_blockers,
                     deferred=facts.deferred)
    performance, store = _performance(result, facts)
    kinds = counts_per_task(result.records, {spec.name: spec.kinds for spec in facts.specs})
    return Report(run=MappingProxyType(dict(facts.run)), manifest=MappingProxyType(dict(facts.manifest)),
                  tasks=result.tasks, levels=result.levels, gates=result.gates, verdict=verdict,
                  requests=MappingProxyType(_requests(result, facts.requests)), warnings=tuple(facts.warnings),
                  kinds=MappingProxyType(kinds), comparison=comparison,
                  performance=performance, store=store, records=result.records,
                  not_run=MappingProxyType(dict(facts.not_run)))


def _requests(result: AggregateResult, counted: Mapping[str, int] | None) -> dict[str, int]:
    """What went over the wire, from the scheduler (each request once, whatever its retries); without it,
    the per-sample sources stand in."""
    if counted is None:
        tasks = result.tasks
        counted = {"sent": sum(t.requests_sent for t in tasks), "failed": 0,
                   "from_store": sum(t.requests_stored for t in tasks), "shared": sum(t.requests_shared for t in tasks)}
    return {k: int(counted.get(k, 0)) for k in REQUEST_COUNTS}


def _performance(result: AggregateResult, facts: RunFacts) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    if facts.duration_s is None:
        return None, None
    section = run_stats.performance(result.records, facts.request_stats, facts.duration_s)
    if facts.run.get("endpoints") == [BASELINE_NAME]:  # its port changes every run: keep reports stable
        section["replicas"] = [{**r, "url": BASELINE_NAME} for r in section.get("replicas") or ()]
    return section, run_stats.store_section(facts.request_stats)


def _comparison(result: AggregateResult, facts: RunFacts, baseline: BaselineFacts | None,
                batch_score: BatchScorer | None) -> Comparison:
    gates = facts.compare_gates
    if baseline is None or baseline.unavailable is not None:
        reason = NO_BASELINE if baseline is None else str(baseline.unavailable)
        judged = not_compared(gates, reason).gates
        if not judged and baseline is None:
            return Comparison()
        return Comparison({"not_computed": reason, "gates": [g.as_dict() for g in judged]}, judged,
                          None if baseline is None else reason)
    base_records = _base_records(result, facts, baseline, batch_score)
    new = {"run": dict(facts.run), "manifest": dict(facts.manifest)}
    base = {"run": dict(baseline.run if baseline.run is not None else facts.run),
            "manifest": dict(baseline.manifest if baseline.manifest is not None else facts.manifest)}
    try:
        comparability = require_comparable(new, base, force=baseline.force, new_name="this run",
                                           baseline_name=str(baseline.described.get("source")))
    except ComparabilityError as exc:
        error = f"clue-checks: {exc}"
        judged = not_compared(gates, NOT_COMPARABLE).gates
        return Comparison({"not_computed": error, "gates": [g.as_dict() for g in judged]}, judged, error)
    compared = compare_with_baseline(result, base_records, gates=gates, comparability=comparability,
                                     baseline=baseline.described)
    return Comparison(MappingProxyType(compared.section or {}), compared.gates, None, tuple(base_records))


def _base_records(result: AggregateResult, facts: RunFacts, baseline: BaselineFacts,
                  batch_score: BatchScorer | None) -> list[SampleRecord]:
    if baseline.records is not None:
        return list(baseline.records)
    new_records = [r for rows in result.records.values() for r in rows]
    derived = [record_from_baseline(r, r.baseline) for r in new_records if r.baseline is not None]
    if baseline.rescore and batch_score is not None:
        scored = aggregate(derived, facts.specs, (), batch_score=batch_score)
        derived = [r for rows in scored.records.values() for r in rows]
    return derived
