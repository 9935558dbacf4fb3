"""Read a finished run's report directory back: ``clue-report.json`` and ``predictions/<task>.jsonl``.

Prediction rows are read defensively, so reports written by older versions compare too: the sample id
is ``sample_id`` or ``id``; the metrics are a ``metrics`` object or the row's numeric top-level keys;
the task is ``task`` or the file's name; the cluster is ``cluster`` or, where the row has none, the one
the task assigns to that sample id.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .aggregate import SampleRecord
from .files import PREDICTIONS, REPORT_JSON
from .prediction_lines import PredictionLineError, prediction_rows

# numeric top-level keys of a prediction row that are not metrics
NOT_METRICS = frozenset({"index", "tokens_in", "tokens_out", "latency_s"})


class RunDirError(Exception):
    """A report directory that cannot be read; the message names the file (and line) and the fix."""


@dataclass(frozen=True)
class RunDir:
    path: Path
    report: Mapping[str, Any]
    records: tuple[SampleRecord, ...]

    @property
    def name(self) -> str:
        return self.path.name or str(self.path)

    @property
    def model(self) -> str | None:
        run = self.report.get("run")
        return run.get("model_id") if isinstance(run, Mapping) else None


def load_run_dir(path: Path) -> RunDir:
    """The report and its per-sample records (one per task and sample id: the last row wins)."""
    report_path = path / REPORT_JSON
    if not path.is_dir():
        raise RunDirError(f"{path}: not a directory; give a run's report directory (the --clue-report-dir of that run)")
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{report_path}: not found; {path} is not a CLUE report directory") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{report_path}: cannot read it as JSON ({exc})") from None
    if not isinstance(report, dict):
        raise RunDirError(f"{report_path}: expected a JSON object, got {type(report).__name__}")
    files = sorted((path / PREDICTIONS).glob("*.jsonl"))
    if not files:
        raise RunDirError(f"{path / PREDICTIONS}: no <task>.jsonl files; the per-sample predictions are needed to pair "
                          "samples (was the run interrupted before it wrote its report?)")
    records: dict[tuple[str, str], SampleRecord] = {}
    for file in files:
        for record in _read_predictions(file):
            records.pop((record.task, record.sample_id), None)
            records[(record.task, record.sample_id)] = record
    return RunDir(path, report, tuple(records.values()))


def _read_predictions(file: Path) -> list[SampleRecord]:
    out = []
    clusters = _ClusterOf()
    try:
        rows = list(prediction_rows(file))
    except PredictionLineError as exc:
        raise RunDirError(str(exc)) from None
    for number, row in rows:
        sample_id = row.get("sample_id", row.get("id"))
        if sample_id is None:
            raise RunDirError(f"{file}, line {number}: the row has no sample id (\"sample_id\" or \"id\")")
        task = str(row.get("task") or file.stem)
        sample_id = str(sample_id)
        cluster = row["cluster"] if "cluster" in row else clusters(task, sample_id)
        index = row.get("index")
        out.append(SampleRecord(task=task, sample_id=sample_id, index=index if isinstance(index, int) else number - 1,
                                outcome=str(row.get("outcome", "")), metrics=_metrics(row), cluster=cluster,
                                reason=str(row.get("reason") or ""), response=_text(row, "response", "Model Answer"),
                                reference=_text(row, "reference", "Ground Truth Answer"),
                                kinds=tuple(str(k) for k in row["kinds"]) if isinstance(row.get("kinds"), list) else (),
                                source=row.get("source") if isinstance(row.get("source"), str) else None))
    return out


def _text(row: Mapping[str, Any], *keys: str) -> str | None:
    """The first of `keys` the row has as a string (the response, as newer and older rows name it)."""
    return next((row[k] for k in keys if isinstance(row.get(k), str)), None)


def _metrics(row: Mapping[str, Any]) -> dict[str, float | None]:
    if isinstance(row.get("metrics"), Mapping):
        source = row["metrics"]
        keys = list(source)
    else:
        source = row
        keys = [k for k, v in row.items() if k not in NOT_METRICS and _number(v)]
    return {k: (float(source[k]) if _number(source[k]) and math.isfinite(source[k]) else None) for k in keys}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _ClusterOf:
    """The cluster a task gives a sample id, for rows written before rows carried it."""

    def __init__(self) -> None:
        self._tasks: dict[str, Any] = {}

    def __call__(self, task: str, sample_id: str) -> str | None:
        from ..tasks import TASKS, Sample, get_profile

        if task not in TASKS:
            return None
        if task not in self._tasks:
            self._tasks[task] = TASKS[task](get_profile("paper"))
        return self._tasks[task].cluster_of(Sample(task, sample_id, {}, ""))
