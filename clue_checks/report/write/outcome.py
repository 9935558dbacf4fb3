"""The controller's report folder, written so that nothing is lost, and the terminal lines that only the
session knows (where the report went, what to remember about this run's settings).

Plain functions of the `Report` (report/document.py) and plain values.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from clue_checks.report.document import Report
from clue_checks.report.write.folder import write_files, write_page
from clue_checks.report.write.spliced import PageFacts


def write_safely(directory: Path, report: Report) -> tuple[list[Path], str | None, str | None]:
    """(the files written, why the report could not be written, why the page could not be).

    A failure of the folder (disk full, folder removed mid-run) is one message, and the table is still
    printed: the answers are in the response store either way. The page comes last: the report itself is
    written whatever happens to it."""
    page = PageFacts()  # what the page's first pass needs, kept as the prediction files are written
    try:
        paths = write_files(directory, report, page)
    except OSError as exc:
        return [], (f"the report could not be written to {directory} ({exc.strerror or exc}); the answers are in the "
                    "response store: fix the folder and rerun (nothing is asked again)"), None
    try:
        paths.insert(2, write_page(directory, report, page))
    except (OSError, ValueError) as exc:
        return paths, None, f"index.html not written: {exc}"
    return paths, None, None


def note_lines(report: Report, *, floorless: Sequence[str]) -> list[tuple[str, dict[str, bool]]]:
    """What must not be missed about this run, printed before the table so that the table, the verdict, the
    page and the exit code's meaning end the output."""
    lines: list[tuple[str, dict[str, bool]]] = [(line, {"yellow": True}) for line in report.not_run.values()]
    run = report.run
    if report.requests.get("from_store") and not run.get("model_revision"):
        lines.append((f"warning: {run.get('model_id')} reports no revision, so stored answers are keyed by its name "
                      "alone: if the weights changed, pass --clue-model-revision=<release> (or --clue-refresh)", {"yellow": True}))
    if floorless:
        lines.append((f"note: no [sample] floor for {', '.join(floorless)} in {run.get('thresholds')}: their samples "
                      "pass whatever their scores", {"yellow": True}))
    partial = [t.title for t in report.tasks if t.partial]
    if partial and not report.verdict.deferred:
        lines.append((f"partial run ({', '.join(partial)}): scores cover only the samples that ran; gates cannot pass",
                      {"yellow": True}))
    return lines


def where_lines(*, paths: Sequence[Path], report_error: str | None,
                problems: Sequence[str | None] = ()) -> list[tuple[str, dict[str, bool]]]:
    """After the verdict: where the report went (the page first), and what could not be written."""
    if report_error is not None:
        return [(f"error: {report_error}", {"red": True})]
    page = [p for p in paths if p.name == "index.html"]
    rest = ", ".join(p.name for p in paths[:3] if p not in page)
    lines = [(f"report: {page[0]} (beside it: {rest})" if page else "report: " + ", ".join(str(p) for p in paths[:3]),
              {"bold": True})]
    lines += [(f"warning: {problem}", {"yellow": True}) for problem in problems if problem]
    return lines