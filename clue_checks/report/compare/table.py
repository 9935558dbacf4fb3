"""The paper's headline table for several runs against a reference run, with paired differences.

:func:`compare_dirs` does the statistics (refusing runs whose manifests differ from the
reference's), :func:`markdown` writes the table and :func:`forest_rows` feeds the forest plot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clue_checks.report.compare.forest import ForestRow
from clue_checks.report.compare.level_comparison import LevelComparison
from clue_checks.report.compare.paired import (COMPARISON_RESAMPLES, COMPARISON_SEED, LONGHEALTH_UNIT, BrokeFixed,
                                               PairedComparison, paired)
from clue_checks.report.numbers.levels import LEVELS, headlines, level_weights
from clue_checks.report.compare.manifest_check import Comparability, ComparabilityError, check_comparable
from clue_checks.report.numbers.power import detectable_drop
from clue_checks.report.run_dir import RunDir


@dataclass(frozen=True)
class ModelComparison:
    run: RunDir
    tasks: Mapping[tuple[str, str], PairedComparison]
    levels: Sequence[LevelComparison]
    broke_fixed: Mapping[str, BrokeFixed]
    comparability: Comparability


def compare_dirs(reference: RunDir, runs: Sequence[RunDir], *, force: bool = False, seed: int = COMPARISON_SEED,
                 resamples: int = COMPARISON_RESAMPLES, longhealth_unit: str = LONGHEALTH_UNIT) -> list[ModelComparison]:
    """Each run against the reference, on each task's headline metric and the two Levels.

    Raises :class:`ComparabilityError` listing every difference of every run that does not match the
    reference, unless `force`.
    """
    checks = [check_comparable(run.report, reference.report, force=force) for run in runs]
    refused = [(run, c) for run, c in zip(runs, checks) if not c.ok]
    if refused and not force:
        raise ComparabilityError("\n".join(c.message(str(run.path), str(reference.path), "--force")
                                           for run, c in refused))
    out = []
    for run, check in zip(runs, checks):
        both = paired(run.records, reference.records, seed=seed, resamples=resamples, longhealth_unit=longhealth_unit)
        out.append(ModelComparison(run, both.tasks, both.levels, both.broke_fixed, check))
    return out


# -- Markdown ---------------------------------------------------------------------------------


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.3f}".replace("-", "−") if signed else f"{value:.3f}"


def _p(c: PairedComparison | LevelComparison | None) -> str:
    """The p-value as the comparison prints it everywhere (a drawn p at its floor is a bound, "≤ …")."""
    return "—" if c is None or c.p_value is None else c.p_text.replace("-", "−")


def _diff(difference: float | None, low: float | None, high: float | None, no_interval: str | None) -> str:
    if low is None or high is None:
        return f"{_num(difference, True)} (no interval)"
    return f"{_num(difference, True)} [{_num(low, True)}, {_num(high, True)}]"


def _title(runs: Sequence[RunDir], task: str) -> str:
    for run in runs:
        entry = run.report.get("tasks", {}).get(task)
        if isinstance(entry, Mapping) and entry.get("title"):
            return str(entry["title"])
    return task


def _reported(run: RunDir, task: str, metric: str) -> float | None:
    """The task score as the run reported it (its table), else the mean of its records."""
    entry = run.report.get("tasks", {}).get(task, {})
    value = entry.get("metrics", {}).get(metric, {}).get("value") if isinstance(entry, Mapping) else None
    if isinstance(value, (int, float)):
        return float(value)
    values = [r.metrics.get(metric) for r in run.records if r.task == task and r.outcome != "error"]
    values = [v for v in values if v is not None and math.isfinite(v)]
    return sum(values) / len(values) if values else None


def _level(run: RunDir, level: int) -> float | None:
    """The level as the run reported it, else the weighted mean of its records' task means."""
    entry = run.report.get("levels", {}).get(f"level{level}", {})
    value = entry.get("value") if isinstance(entry, Mapping) else None
    if isinstance(value, (int, float)):
        return float(value)
    parts = {key: _reported(run, *key) for key in level_weights(level)}
    if any(v is None for v in parts.values()):
        return None
    return sum(level_weights(level)[key] * v for key, v in parts.items())  # type: ignore[operator]


def tasks_in(reference: RunDir, comparisons: Sequence[ModelComparison]) -> list[tuple[str, str]]:
    """(task, headline metric) in report order, for tasks any of the runs has."""
    records = [r for run in (reference, *(c.run for c in comparisons)) for r in run.records]
    present = {r.task for r in records}
    return [(t, m) for t, m in headlines(records).items() if t in present]


def markdown(reference: RunDir, comparisons: Sequence[ModelComparison], *, plot_files: Sequence[str] = (),
             plot_note: str | None = None) -> str:
    runs = [reference, *(c.run for c in comparisons)]
    names = [_cell(run.name) for run in runs]
    keys = tasks_in(reference, comparisons)
    lines = ["# CLUE comparison", "",
             f"Reference: `{reference.name}`" + (f" ({_cell(reference.model)})" if reference.model else "") + ". "
             "Differences are run − reference on the samples both scored, with 95% intervals and two-sided "
             "p-values; broke: the reference passed the sample and the run failed it; fixed: the reverse.", ""]
    for c in comparisons:
        if c.comparability.forced:
            lines += [f"**Forced:** `{c.run.name}` differs from the reference in "
                      + "; ".join(_cell(d) for d in c.comparability.differences) + ".", ""]
        for note in c.comparability.notes:
            lines += [f"Note (`{c.run.name}`): {_cell(note)}.", ""]
    lines += ["## Headline scores", "", "| Task | Metric | " + " | ".join(names) + " |",
              "|---|---|" + "---:|" * len(names)]
    for task, metric in keys:
        lines.append(f"| {_cell(_title(runs, task))} | {metric} | "
                     + " | ".join(_num(_reported(run, task, metric)) for run in runs) + " |")
    for level in LEVELS:
        lines.append(f"| Level {level} | average | " + " | ".join(_num(_level(run, level)) for run in runs) + " |")
    for c in comparisons:
        lines += ["", f"## {_cell(c.run.name)} − {_cell(reference.name)}", "",
                  "| Task | Difference [95% CI] | p | Pairs | Units differing | Broke / fixed "
                  "| Smallest drop seen (80% power) |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for task, metric in keys:
            lines.append(_task_row(_title(runs, task), c.tasks.get((task, metric)), c.broke_fixed.get(task)))
        for lv in c.levels:
            diff = "not compared" if lv.difference is None else \
                _diff(lv.difference, lv.ci_low, lv.ci_high, lv.no_interval)
            mark = f" (incomplete: {', '.join(lv.incomplete)})" if lv.incomplete else ""
            differing = "—" if lv.differing is None else f"{lv.differing} of {lv.units}"
            lines.append(f"| Level {lv.level} | {diff}{mark} | {_p(lv)} | — | {differing} | — | — |")
        lines += _footnotes(c, keys, runs)
    if plot_files:
        lines += ["", "Forest plot: " + ", ".join(f"`{f}`" for f in plot_files)]
    elif plot_note:
        lines += ["", f"Forest plot {plot_note}"]
    return "\n".join(lines) + "\n"


def _task_row(title: str, c: PairedComparison | None, bf: BrokeFixed | None) -> str:
    if c is None or c.difference is None:
        why = "not in both runs" if c is None else "not compared"
        return f"| {_cell(title)} | {why} | — | — | — | — | — |"
    mark = "" if c.complete else " (incomplete)"
    seen = detectable_drop(c, sided=2).drop
    changed = f"{len(bf.broke)} / {len(bf.fixed)}" if bf is not None else "—"
    pairs = f"{c.n}" + (f" ({c.n_clusters} {c.unit}s)" if c.clustered else "")
    differing = "—" if c.differing is None else f"{c.differing} of {c.n_clusters}"
    return (f"| {_cell(title)} | {_diff(c.difference, c.ci_low, c.ci_high, c.no_interval)}{mark} | "
            f"{_p(c)} | {pairs} | {differing} | {changed} | {_num(seen)} |")


def _footnotes(c: ModelComparison, keys: Sequence[tuple[str, str]], runs: Sequence[RunDir]) -> list[str]:
    lines = ["", "Methods:"]
    for task, metric in keys:
        pc = c.tasks.get((task, metric))
        if pc is not None:
            lines.append(f"- {_cell(_title(runs, task))} ({metric}): {_cell(pc.not_computed or pc.method)}")
            for side, ids in (("the run", pc.missing_in_new), ("the reference", pc.missing_in_baseline)):
                if ids:
                    shown = ", ".join(f"`{_cell(i)}`" for i in ids[:5]) + (" …" if len(ids) > 5 else "")
                    lines.append(f"  - incomplete: {len(ids)} sample(s) not scored by {side}: {shown}")
    for lv in c.levels:
        lines.append(f"- Level {lv.level}: {_cell(lv.not_computed or lv.method)}")
    return lines


def forest_rows(reference: RunDir, comparisons: Sequence[ModelComparison]) -> list[ForestRow]:
    runs = [reference, *(c.run for c in comparisons)]
    rows = []
    for task, metric in tasks_in(reference, comparisons):
        for c in comparisons:
            pc = c.tasks.get((task, metric))
            significant = bool(pc and pc.p_value is not None and pc.p_value < 0.05)
            rows.append(ForestRow(f"{_title(runs, task)} ({metric})", c.run.name, pc.difference if pc else None,
                                  pc.ci_low if pc else None, pc.ci_high if pc else None, significant))
    for level in LEVELS:
        for c in comparisons:
            lv = next((x for x in c.levels if x.level == level), None)
            rows.append(ForestRow(f"Level {level}", c.run.name, lv.difference if lv else None,
                                  lv.ci_low if lv else None, lv.ci_high if lv else None,
                                  bool(lv and lv.p_value is not None and lv.p_value < 0.05)))
    return rows


def as_dict(comparisons: Sequence[ModelComparison]) -> dict[str, Any]:
    """The numbers behind the table, for a JSON file beside it."""
    return {c.run.name: {"comparability": c.comparability.as_dict(),
                         "tasks": {f"{t}.{m}": pc.as_dict() for (t, m), pc in c.tasks.items()},
                         "levels": {f"level{lv.level}": lv.as_dict() for lv in c.levels},
                         "broke": {t: list(bf.broke) for t, bf in c.broke_fixed.items()},
                         "fixed": {t: list(bf.fixed) for t, bf in c.broke_fixed.items()}}
            for c in comparisons}
