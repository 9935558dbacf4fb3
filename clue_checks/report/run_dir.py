"""Read a finished run's report directory back: ``clue-report.json`` and ``predictions/<task>.jsonl``.

Each prediction row carries the sample record's fields (``task``, ``sample_id``, a ``metrics`` object,
``cluster``, ``response``, ``reference``, ...) beside CLUE's keys; a row without them is refused with the
file and line named.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clue_checks.record import SampleRecord
from clue_checks.report.files import PREDICTIONS, REPORT_JSON
from clue_checks.report.prediction_lines import PredictionLineError, prediction_rows
from clue_checks.errors import ReportError

REQUIRED = ("task", "sample_id", "metrics")


class RunDirError(ReportError):
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
    try:
        rows = list(prediction_rows(file))
    except PredictionLineError as exc:
        raise RunDirError(str(exc)) from None
    for number, row in rows:
        missing = [key for key in REQUIRED if row.get(key) is None]
        if missing or not isinstance(row["metrics"], Mapping):
            raise RunDirError(f"{file}, line {number}: not a clue-checks prediction row (no "
                              f"{', '.join(map(repr, missing or ['metrics']))}); rerun that report's run")
        index = row.get("index")
        cluster = row.get("cluster")
        out.append(SampleRecord(task=str(row["task"]), sample_id=str(row["sample_id"]),
                                index=index if isinstance(index, int) else number - 1,
                                outcome=str(row.get("outcome", "")), metrics=_metrics(row["metrics"]),
                                cluster=cluster if isinstance(cluster, str) else None,
                                reason=str(row.get("reason") or ""), response=_text(row, "response"),
                                reference=_text(row, "reference"),
                                kinds=tuple(str(k) for k in row["kinds"]) if isinstance(row.get("kinds"), list) else (),
                                source=row.get("source") if isinstance(row.get("source"), str) else None))
    return out


def _text(row: Mapping[str, Any], key: str) -> str | None:
    return row[key] if isinstance(row.get(key), str) else None


def _metrics(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    return {k: (float(v) if _number(v) and math.isfinite(v) else None) for k, v in metrics.items()}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
