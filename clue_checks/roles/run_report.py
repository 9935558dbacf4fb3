"""The controller's additions to the report: how the run went (run_stats), written so that nothing is lost.

Kept apart from controller.py: these are the report's robustness parts (store problems, a report
folder that fails at the last moment, the run's performance), each a plain function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..report import render, run_stats
from ..report.aggregate import SampleRecord

BASELINE_NAME = "embedded parameterless baseline"  # what Run.describe() calls it


def add_run_stats(report: dict[str, Any], records: Mapping[str, Sequence[SampleRecord]],
                  stats: Mapping[str, Any] | None, duration_s: float) -> str:
    """Add `performance` and `store` to the report; return the Markdown lines for them."""
    section = run_stats.performance(records, stats, duration_s)
    if report.get("run", {}).get("endpoints") == [BASELINE_NAME]:  # its port changes every run: keep reports stable
        section["replicas"] = [{**r, "url": BASELINE_NAME} for r in section.get("replicas") or ()]
    store = run_stats.store_section(stats)
    report["performance"] = section
    report["store"] = store
    return "\n".join(run_stats.markdown_lines(section, store)) + "\n"


def write_safely(directory: Path, report: Mapping[str, Any], markdown: str,
                 records: Mapping[str, Sequence[SampleRecord]], *, redact: bool = False) -> tuple[list[Path], str | None]:
    """Write the report folder; a failure (disk full, folder removed mid-run) is one message, and the
    table is still printed. The answers are in the response store either way."""
    try:
        return render.write_reports(directory, report, markdown, records, redact=redact), None
    except OSError as exc:
        return [], (f"the report could not be written to {directory} ({exc.strerror or exc}); the answers are in the "
                    "response store: fix the folder and rerun (nothing is asked again)")


def summary_lines(report: Mapping[str, Any], report_error: str | None) -> list[tuple[str, dict[str, bool]]]:
    """Terminal lines after the task table: the run's performance, then what must not be missed."""
    lines: list[tuple[str, dict[str, bool]]] = []
    section = report.get("performance")
    if section:
        lines.append((run_stats.summary_line(section), {}))
        lines += [(f"warning: {w}", {"yellow": True}) for w in run_stats.warning_lines(section, report.get("store"))]
    if report_error is not None:
        lines.append((f"error: {report_error}", {"red": True}))
    return lines
