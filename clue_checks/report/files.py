"""The report folder's file names, and clearing an earlier run's report. Imports nothing heavy: the
controller clears the folder before the first request, and the statistics (numpy) can wait."""

from __future__ import annotations

from pathlib import Path

REPORT_JSON = "clue-report.json"
REPORT_MD = "clue-report.md"
PREDICTIONS = "predictions"
PAGE = "index.html"
# A --clue-select / --clue-kind run's own report folder, inside the report of record it selects from: the
# partial run never replaces the full one, and the next selection selects from the full one again.
SELECTION = "selection"


def remove_reports(directory: Path) -> None:
    """A run that will write a report: an earlier run's report must not be taken for this one's if this
    one stops early."""
    for path in (directory / REPORT_JSON, directory / REPORT_MD, directory / PAGE,
                 *directory.glob(f"{PREDICTIONS}/*.jsonl")):
        path.unlink(missing_ok=True)
