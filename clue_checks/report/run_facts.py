"""Facts about a run that both the plugin and `clue report merge` need, as plain functions of plain values:
what a real model scored on the synthetic fixtures means for the verdict, and which thresholds keys name
nothing (a misspelt key would be a floor or gate that silently never applies)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clue_checks.report.numbers.thresholds import Thresholds
from clue_checks.tasks import get_profile
from clue_checks.tasks.registry import TaskCatalog
from clue_checks.tasks.taskfile import NAME as TASK_NAME

SYNTHETIC_WARNING = "synthetic fixtures: scores mean nothing clinically; give --clue-data"
BASELINE_KIND = "clue-baseline"  # the embedded baseline's server kind: a stand-in, not a model


def synthetic_notice(synthetic_data: bool, endpoint_given: bool, server_kind: str | None,
                     allow: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(warnings, pass blockers) of a run: a real model (an endpoint that is not the embedded baseline)
    scored on the synthetic fixtures is warned about, and cannot PASS unless --clue-allow-synthetic.
    `server_kind` None: not known yet (the header, before connecting)."""
    if not (synthetic_data and endpoint_given and server_kind != BASELINE_KIND):
        return (), ()
    return (SYNTHETIC_WARNING,), (() if allow else (f"{SYNTHETIC_WARNING} (or --clue-allow-synthetic)",))


def unknown_threshold_keys(thresholds: Thresholds, profile_name: str, catalog: TaskCatalog | None = None, *,
                           pending_ok: bool = False, extra: Mapping[str, Any] | None = None) -> list[str]:
    """A misspelt key would be a floor or gate that silently never applies: refuse it.

    `pending_ok`: a task not known yet is let through (a test module's task file, read at collection;
    `unknown_tasks` checks again once the collection is done)."""
    profile = get_profile(profile_name)
    classes = (catalog or TaskCatalog.builtin()).classes
    tasks = {name: cls(profile, {}) for name, cls in classes.items()}
    tasks.update(extra or {})  # tasks known only from a report (`clue report merge` of users' tasks)
    problems = []
    keys = [("sample", task, metric) for task, floors in thresholds.floors.items() for metric in floors]
    keys += [("gate", g.task, g.metric) for g in thresholds.gates]
    for section, task_name, metric in keys:
        task = tasks.get(task_name)
        if task is None and pending_ok and TASK_NAME.match(task_name):
            continue
        if task is None:
            problems.append(f"[{section}] {task_name}.{metric}: unknown task {task_name!r} "
                            f"(tasks: {', '.join(tasks)})")
        elif metric not in (*task.metric_names, *task.batched_metrics):
            problems.append(f"[{section}] {task_name}.{metric}: {task_name} has no metric {metric!r} "
                            f"(metrics: {', '.join((*task.metric_names, *task.batched_metrics))})")
        elif section == "sample" and metric not in task.floor_metrics:
            # A floor the sample check never reads would be a check that cannot fail.
            allowed = (f"floors: {', '.join(task.floor_metrics)}" if task.floor_metrics else
                       "its samples pass by answering correctly, with no floor")
            why = ("it is computed over the whole task at the end of the run, not per sample"
                   if metric in task.batched_metrics else "the sample check does not use it")
            problems.append(f"[sample] {task_name}.{metric}: no per-sample floor on {metric!r}: {why} ({allowed}); "
                            f"a [gate] can set a bar on the task's {metric}")
    return problems
