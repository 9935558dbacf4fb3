"""The task gates of a run (`[gate]` in the thresholds file), judged on its task summaries: pass or fail, and
the states that are never a pass ("incomplete", "not run") or stay outside the verdict ("not selected",
"deferred")."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from clue_checks.score_display import shown_for_verdict
from clue_checks.report.numbers.task_summary import TaskSummary
from clue_checks.report.numbers.thresholds import Gate


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    # "pass" or "fail"; never a pass: "incomplete" (scored on part of the task) and "not run";
    # outside the verdict: "not selected" (its task was left out by --clue-tasks) and "deferred" (a shard run:
    # `clue report merge` decides over all shards).
    status: str
    value: float | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"gate": self.gate.name, "status": self.status, "value": self.value, "detail": self.detail}


def evaluate_gates(gates: Iterable[Gate], tasks: Mapping[str, TaskSummary], *, not_selected: Collection[str] = (),
                   deferred: str | None = None, not_run: Mapping[str, str] | None = None) -> list[GateResult]:
    """pass / fail, or — never a pass — "incomplete" (scored on part of the task) and "not run".

    `not_selected`: tasks an explicit --clue-tasks left out (their gates are reported, outside the verdict).
    `deferred`: why no gate is decided in this run (a shard of a run split across machines).
    `not_run`: why a task did not run (e.g. its data file is absent), said in its gates' detail.
    """
    results = []
    for gate in gates:
        summary = tasks.get(gate.task)
        if gate.task in not_selected:
            results.append(GateResult(gate, "not selected", None, f"task {gate.task} was not selected (--clue-tasks)"))
        elif deferred is not None:
            results.append(GateResult(gate, "deferred", None, deferred))
        elif summary is None:
            results.append(GateResult(gate, "not run", None, (not_run or {}).get(gate.task)
                                      or f"task {gate.task} was not run"))
        else:
            results.append(judge_gate(gate, summary))
    return results


def judge_gate(gate: Gate, summary: TaskSummary) -> GateResult:
    """One gate on the summary of its task's run."""
    metric = summary.metric(gate.metric)
    if metric is None:
        known = ", ".join(m.name for m in summary.metrics)
        return GateResult(gate, "fail", None, f"{gate.task} has no metric {gate.metric!r} (known: {known})")
    coverage = _coverage(summary)
    if metric.value is None:
        if coverage:  # e.g. an interrupted run: the task is unfinished, not failed
            return GateResult(gate, "incomplete", None, f"not computed ({metric.not_computed}), and "
                              f"{', '.join(coverage)}: a gate needs the whole task")
        return GateResult(gate, "fail", None, f"not computed: {metric.not_computed}")
    observed = gate.observed(metric.value, metric.ci_low, metric.ci_high)
    if observed is None:  # a gate on an interval bound the run could not compute cannot pass
        return GateResult(gate, "fail", metric.value, f"{gate.statistic} not computed: {metric.method}")
    ok = gate.holds(observed)
    problems = ([f"{gate.metric} not computed on {metric.not_computed}"] if metric.not_computed else []) + coverage
    shown = shown_for_verdict(observed, gate.holds, 4)
    if gate.statistic != "value":
        shown = f"{gate.statistic} {shown} (value {metric.value:.4f})"
    if problems:
        # Scored on part of the task (or of its samples): whichever side of the bar, not a verdict.
        return GateResult(gate, "incomplete", metric.value, f"{shown} would {'pass' if ok else 'fail'}, but "
                          f"{', '.join(problems)}: a gate needs the whole task")
    return GateResult(gate, "pass" if ok else "fail", metric.value, f"{shown} over {metric.n} samples")


def _coverage(summary: TaskSummary) -> list[str]:
    """Why the task's score is not the whole task's score (nothing: it is)."""
    coverage = []
    if summary.n_errored:
        coverage.append(f"{summary.n_errored} sample(s) errored")
    if summary.n_missing:
        coverage.append(f"{summary.n_missing} selected sample(s) never ran")
    if summary.n_total is None:
        coverage.append("the task's number of samples is unknown")
    elif summary.n_selected < summary.n_total:
        coverage.append(f"only {summary.n_selected} of {summary.n_total} samples were selected")
    return coverage
