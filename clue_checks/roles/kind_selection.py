"""`--clue-kind=repetition_loop,truncated`: which samples to run, from the last report's prediction rows.

Every prediction row names its sample's failure kinds, so the samples whose last outcome has one of the
kinds asked for are read from `--clue-report-dir` before the run replaces that report, like `--lf` reads the
failures pytest's cache remembers. The run then collects only them; their answers are in the response store
(keyed by endpoint and request), so no request is sent. Read once, in the process that starts the run: xdist
workers get the ids with their worker input, so none reads a report the controller has already removed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clue_checks.report.files import PREDICTIONS
from clue_checks.report.prediction_lines import PredictionLineError, prediction_rows

WORKER_KEY = "clue_kind_ids"  # in xdist's worker input: the selected test ids


@dataclass(frozen=True)
class KindSelection:
    kinds: tuple[str, ...]
    ids: frozenset[str]  # test ids ("mednli:123") whose last outcome has one of `kinds`
    source: str  # where they were read (for messages)


def read_selection(report_dir: Path, kinds: Sequence[str]) -> KindSelection:
    """The samples of `report_dir/predictions/*.jsonl` that carry one of `kinds`; raises pytest.UsageError when
    there is no prediction file to read, or its rows record no kinds (a report written before triage)."""
    folder = report_dir / PREDICTIONS
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise pytest.UsageError(f"--clue-kind selects by the last run's outcomes, but {folder} holds no prediction "
                                "file: run the suite once without --clue-kind (with the same --clue-report-dir)")
    wanted = set(kinds)
    ids: set[str] = set()
    unrecorded = 0
    for path in files:
        for row in _rows(path):
            recorded = row.get("kinds")
            if not isinstance(recorded, list):
                unrecorded += 1
                continue
            if wanted.intersection(recorded):
                ids.add(f"{row.get('task') or path.stem}:{row.get('sample_id', row.get('id'))}")
    if unrecorded and not ids:
        raise pytest.UsageError(f"--clue-kind: the rows of {folder} record no failure kinds (written before "
                                "triage): run the suite once without --clue-kind to record them")
    return KindSelection(tuple(kinds), frozenset(ids), str(folder))


def _rows(path: Path) -> list[dict[str, Any]]:
    try:
        return [row for _, row in prediction_rows(path)]
    except PredictionLineError as exc:
        raise pytest.UsageError(f"--clue-kind: {exc}") from None


def split_items(items: Sequence[pytest.Item], selection: KindSelection,
                test_id: Callable[[pytest.Item], str | None]) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """(kept, deselected): a CLUE sample is kept when its test id is selected; any other test is kept."""
    keep, drop = [], []
    for item in items:
        tid = test_id(item)
        (drop if tid is not None and tid not in selection.ids else keep).append(item)
    return keep, drop
