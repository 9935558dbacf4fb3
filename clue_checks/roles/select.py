"""--clue-select=broke / fixed: rerun exactly the samples the last comparison listed, from the store.

The lists are read from the comparison in this run's report folder (``--clue-report-dir``/clue-report.json,
written by the run that compared itself with a baseline), before this run replaces that report. Every
other CLUE sample is deselected; the selected ones are answered from the response store when the same
model and settings are used again, so the rerun sends no request. Tests that are not CLUE samples are
left alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clue_checks.report.files import REPORT_JSON


def listed(report_dir: Path, which: str) -> set[str]:
    """The test ids ("task:sample_id") the comparison in `report_dir` lists as `which` (broke or fixed);
    raises pytest.UsageError naming the file and what to do."""
    path = report_dir / REPORT_JSON
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise pytest.UsageError(f"--clue-select={which}: {path} not found; run once with --clue-baseline=DIR or "
                                "--clue-baseline-endpoint=URL into this --clue-report-dir first") from None
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"--clue-select={which}: cannot read {path} ({exc})") from None
    comparison = report.get("comparison") if isinstance(report, dict) else None
    tasks = comparison.get("tasks") if isinstance(comparison, dict) else None
    if not isinstance(tasks, dict):
        raise pytest.UsageError(f"--clue-select={which}: {path} holds no comparison with a baseline; run with "
                                "--clue-baseline=DIR or --clue-baseline-endpoint=URL first")
    return {f"{task}:{sample_id}" for task, entry in tasks.items() if isinstance(entry, dict)
            for sample_id in entry.get(which) or ()}


WANTED = pytest.StashKey[frozenset]()  # the listed test ids, read once per session
WORKER_KEY = "clue_select"  # under xdist, each worker gets the controller's list (the report may be gone)


def wanted(config: pytest.Config, which: str, report_dir: Path) -> frozenset[str]:
    """The listed ids, read once: under xdist the controller reads them before any worker collects and hands
    them to each worker, since the run replaces the report once the first worker has collected."""
    if WANTED not in config.stash:
        workerinput = getattr(config, "workerinput", None)
        if workerinput is not None and WORKER_KEY in workerinput:
            config.stash[WANTED] = frozenset(workerinput[WORKER_KEY])
        else:
            config.stash[WANTED] = frozenset(listed(report_dir, which))
    return config.stash[WANTED]


def select_items(config: pytest.Config, items: list[Any], which: str, report_dir: Path,
                 sample_param: Any) -> None:
    """Deselect every CLUE sample that is not listed (in place, as pytest's -k does)."""
    wanted_ids = wanted(config, which, report_dir)
    keep: list[Any] = []
    drop: list[Any] = []
    for item in items:
        param = sample_param(item)
        (drop if param is not None and param not in wanted_ids else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


