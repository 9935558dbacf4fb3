"""A run against its baseline, as the run's own report says it: ``report["comparison"]``, the comparison
gates, the Markdown and terminal tables, and each prediction row's baseline (the verdict with the comparison
gates is decided with the others: report/verdict.py).

Pure functions of records: the statistics are :mod:`comparison` (paired on (task, sample id)), the gates
:mod:`compare_gates`; the plugin (roles/baseline.py) decides where the baseline's records come from
(a previous run's report folder, or a second model answering in the same session).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from clue_checks.record import SampleRecord
from clue_checks.report.numbers.aggregate import AggregateResult
from clue_checks.report.numbers.task_summary import TaskSummary
from clue_checks.report.compare.gates import CompareGateResult, evaluate_compare_gates
from clue_checks.report.compare.paired import COMPARISON_RESAMPLES, COMPARISON_SEED, paired
from clue_checks.report.numbers.levels import headlines
from clue_checks.report.compare.manifest_check import Comparability
from clue_checks.report.numbers.thresholds import CompareGate

NO_BASELINE = ("no baseline: give --clue-baseline=DIR (a previous run's report folder) or --clue-baseline-endpoint=URL "
               "(the baseline model's server)")


@dataclass(frozen=True)
class BaselineComparison:
    section: dict[str, Any] | None  # report["comparison"]; None: no baseline
    gates: tuple[CompareGateResult, ...]


def baseline_of(record: SampleRecord) -> dict[str, Any]:
    """What a prediction row (and a failing sample's message) shows of the baseline's answer to the sample."""
    return {"response": record.response, "outcome": record.outcome, "metrics": dict(record.metrics),
            "kinds": list(record.kinds), "reason": record.reason}


def record_from_baseline(new: SampleRecord, data: Mapping[str, Any]) -> SampleRecord:
    """The baseline's record of a sample from what the new record carries of it (`baseline_of`)."""
    return SampleRecord(new.task, new.sample_id, new.index, str(data.get("outcome") or "error"),
                        metrics=dict(data.get("metrics") or {}), reason=str(data.get("reason") or ""),
                        response=data.get("response"), reference=new.filled().reference, cluster=new.cluster,
                        kinds=tuple(data.get("kinds") or ()))


def not_compared(gates: Sequence[CompareGate], reason: str = NO_BASELINE) -> BaselineComparison:
    """No baseline (or one that was refused): every comparison gate is "not run" with the reason."""
    return BaselineComparison(None, tuple(evaluate_compare_gates(gates, {}, no_baseline=reason)))


def compare_with_baseline(result: AggregateResult, base_records: Sequence[SampleRecord], *,
                          gates: Sequence[CompareGate], comparability: Comparability, baseline: Mapping[str, Any],
                          seed: int = COMPARISON_SEED, resamples: int = COMPARISON_RESAMPLES) -> BaselineComparison:
    """Each task's headline metric (and every metric a comparison gate names), the Levels, the samples that
    broke and were fixed, and the comparison gates. `baseline`: what the report says the baseline was."""
    new_records = [r for rows in result.records.values() for r in rows]
    heads = headlines(new_records)  # CLUE's headline metrics, and a user's task's own
    metrics: dict[str, list[str]] = {t: [m] for t, m in heads.items()}
    for gate in gates:
        if gate.metric not in metrics.setdefault(gate.task, []):
            metrics[gate.task].append(gate.metric)
    both = paired(new_records, base_records, metrics=metrics, seed=seed, resamples=resamples)
    comparisons, levels, changed = both.tasks, both.levels, both.broke_fixed
    base_tasks = {r.task for r in base_records}
    tasks: dict[str, Any] = {}
    for summary in result.tasks:
        task = summary.task
        headline = heads.get(task)
        entry: dict[str, Any]
        if task not in base_tasks:
            entry = {"metric": headline, "not_computed": f"the baseline did not run {task}", "complete": False}
        else:
            entry = _entry(comparisons[(task, headline)].as_dict()) if (task, headline) in comparisons else {}
            bf = changed.get(task)
            entry["broke"] = list(bf.broke) if bf else []
            entry["fixed"] = list(bf.fixed) if bf else []
            others = {m: _entry(comparisons[(task, m)].as_dict()) for m in metrics.get(task, ())
                      if m != headline and (task, m) in comparisons}
            if others:
                entry["other_metrics"] = others
        tasks[task] = entry
    partial = {t.task: _partial(t) for t in result.tasks if not t.complete}
    gate_results = tuple(evaluate_compare_gates(gates, comparisons, partial=partial))
    section = {
        "baseline": dict(baseline),
        "comparability": comparability.as_dict(),
        "forced": comparability.forced,
        "complete": all(e.get("complete", False) for e in tasks.values()),
        "seed": seed, "resamples": resamples,
        "tasks": tasks,
        "levels": {f"level{lv.level}": lv.as_dict() for lv in levels},
        "gates": [g.as_dict() for g in gate_results],
    }
    return BaselineComparison(section, gate_results)


def _entry(data: dict[str, Any]) -> dict[str, Any]:
    data.pop("task", None)
    return data


def _partial(t: TaskSummary) -> str:
    return (f"the new run scored {t.n_samples} of {t.n_total if t.n_total is not None else '?'} samples of {t.title}"
            + (f", {t.n_errored} errored" if t.n_errored else ""))


def with_baseline(records: Mapping[str, Sequence[SampleRecord]], base_records: Sequence[SampleRecord]
                  ) -> dict[str, list[SampleRecord]]:
    """The records to write, each with its baseline's answer (where the baseline has the sample)."""
    base = {(r.task, r.sample_id): r for r in base_records}
    return {task: [replace(r, baseline=baseline_of(base[(r.task, r.sample_id)]))
                   if (r.task, r.sample_id) in base else r for r in rows]
            for task, rows in records.items()}


# -- text -----------------------------------------------------------------------------------------


def _num(value: Any, signed: bool = False) -> str:
    if not isinstance(value, (int, float)):
        return "—"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _p(value: Any) -> str:
    if isinstance(value, str):  # as the comparison prints it (a drawn p at its floor is a bound: "≤ …")
        return value
    return "—" if not isinstance(value, (int, float)) else (f"{value:.2g}" if value < 0.001 else f"{value:.3f}")


def _ci(ci: Any) -> str:
    if isinstance(ci, list) and ci == [None, None]:
        return " (no interval)"
    if not isinstance(ci, list) or len(ci) != 2 or not all(isinstance(v, (int, float)) for v in ci):
        return ""
    return f" [{ci[0]:+.3f}, {ci[1]:+.3f}]"


TABLE_HEADER = ["task", "metric", "baseline", "new", "difference [95% CI]", "p", "n", "broke", "fixed"]


def table_rows(section: Mapping[str, Any], titles: Mapping[str, str]) -> list[list[str]]:
    rows = []
    for task, e in section["tasks"].items():
        if e.get("not_computed") and e.get("difference") is None:
            rows.append([titles.get(task, task), str(e.get("metric")), "—", "—",
                         f"not compared: {e['not_computed']}", "—", str(e.get("n", 0)), "—", "—"])
            continue
        incomplete = "" if e.get("complete", True) else " (incomplete)"
        rows.append([titles.get(task, task), str(e.get("metric")), _num(e.get("baseline")), _num(e.get("new")),
                     _num(e.get("difference"), True) + _ci(e.get("ci95")) + incomplete, _p(e.get("p_shown", e.get("p_value"))),
                     str(e.get("n")), str(len(e.get("broke", []))), str(len(e.get("fixed", [])))])
    for name, lv in section.get("levels", {}).items():
        label = f"Level {name[-1]}"
        if lv.get("difference") is None:
            rows.append([label, "average", "—", "—", "not compared", "—", "", "", ""])
        else:
            incomplete = " (incomplete)" if lv.get("incomplete") else ""
            rows.append([label, "average", _num(lv["baseline"]), _num(lv["new"]),
                         _num(lv["difference"], True) + _ci(lv.get("ci95")) + incomplete, _p(lv.get("p_shown", lv.get("p_value"))),
                         "", "", ""])
    return rows


def level_notes(section: Mapping[str, Any]) -> list[str]:
    return [f"Level {name[-1]} not compared: {lv.get('not_computed')}" for name, lv in section.get("levels", {}).items()
            if lv.get("difference") is None]


def _baseline_name(section: Mapping[str, Any]) -> str:
    b = section.get("baseline", {})
    return f"{b.get('model_id') or 'unknown model'} ({b.get('source', '?')})"


def _cell(text: str) -> str:
    return re.sub(r"\s*[\r\n]+\s*", " ", text).replace("|", "\\|")


def markdown_lines(comparison: BaselineComparison, titles: Mapping[str, str]) -> list[str]:
    """The "Against the baseline" section: the table, how it was made, the gates, and what broke."""
    lines = ["## Against the baseline", ""]
    section = comparison.section
    if section is None:
        lines.append(f"Not compared: {NO_BASELINE}.")
    else:
        if section.get("forced"):
            lines += ["> **Forced comparison**: the runs' manifests differ (--clue-baseline-force): "
                      + "; ".join(_cell(d) for d in section["comparability"]["differences"]), ""]
        lines += [f"Baseline: {_cell(_baseline_name(section))}. Differences are this run minus the baseline, paired "
                  "on sample ids" + ("" if section["complete"] else "; **incomplete**: samples are missing on one "
                                     "side (see `missing_in_new` / `missing_in_baseline` in clue-report.json)") + ".",
                  "", "| " + " | ".join(TABLE_HEADER) + " |", "|" + "|".join("---" for _ in TABLE_HEADER) + "|"]
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table_rows(section, titles)]
        lines += [""] + [f"{_cell(n)}  " for n in level_notes(section)] if level_notes(section) else []
        methods = {e.get("method") for e in section["tasks"].values() if e.get("method")}
        lines += ["", "Methods:", ""] + [f"- {_cell(m)}" for m in sorted(methods)]
        broke = [(t, e["broke"]) for t, e in section["tasks"].items() if e.get("broke")]
        if broke:
            lines += ["", "Broke (the baseline passed, this run failed):", ""]
            lines += [f"- {titles.get(t, t)} ({len(ids)}): " + ", ".join(f"`{t}:{i}`" for i in ids[:50])
                      + (f" … and {len(ids) - 50} more" if len(ids) > 50 else "") for t, ids in broke]
    if comparison.gates:
        lines += ["", "Comparison gates:", ""]
        lines += [f"- **{g.status}** `{g.gate.name}` — {_cell(g.detail)}" for g in comparison.gates]
    return lines + [""]


def terminal_lines(comparison: BaselineComparison, titles: Mapping[str, str]) -> list[str]:
    out = []
    section = comparison.section
    if section is not None:
        out.append(f"against the baseline {_baseline_name(section)}"
                   + (" — FORCED: the manifests differ" if section.get("forced") else "")
                   + ("" if section["complete"] else " — incomplete: samples missing on one side"))
        rows = [TABLE_HEADER] + table_rows(section, titles)
        widths = [max(len(r[c]) for r in rows) for c in range(len(TABLE_HEADER))]
        out += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        out += level_notes(section)
    for g in comparison.gates:
        out.append(f"compare gate {g.status.upper():10} {g.gate.name}: {g.detail}")
    return out
