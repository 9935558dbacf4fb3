"""The report folder, written from a `Report`: clue-report.json, clue-report.md, predictions/<task>.jsonl and
index.html. Nothing is read back: the page is drawn from the same value the files were written from."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from clue_checks.private_files import ignore_report_parts
from clue_checks.record import SampleRecord
from clue_checks.report.document import Report
from clue_checks.report.files import PREDICTIONS, REPORT_JSON, REPORT_MD
from clue_checks.report.integrity import stamped
from clue_checks.report.write.html_stream import write_streamed_page
from clue_checks.report.write.pieces import row_read_back
from clue_checks.report.write.markdown import markdown
from clue_checks.report.write.page_rows import page_rows
from clue_checks.report.write.redact import redact_row
from clue_checks.report.write.spliced import PageFacts, plain_line, prediction_lines
from clue_checks.text_spool import SpoolReader


def prediction_rows(report: Report) -> dict[str, Iterator[dict[str, Any]]]:
    """Per task, the rows of `predictions/<task>.jsonl` in scoring order, made one at a time, each record's texts
    read back from where they lie (`SpoolReader`): a full run's prompts are never all in memory; with
    `run.redacted` (--clue-redact) their clinical text is hashed (`redact.redact_row`)."""
    shown = redact_row if report.run.get("redacted") else dict
    return {task: _rows(records, shown) for task, records in report.records_to_write().items()}


def _rows(records: Iterable[SampleRecord], shown: Callable[[dict[str, Any]], dict[str, Any]]
          ) -> Iterator[dict[str, Any]]:
    with SpoolReader() as reader:  # one handle per spool file, closed when the rows are read
        for r in sorted(records, key=lambda r: r.index):
            yield shown(row_read_back(r, reader))


def write_files(directory: Path, report: Report, page: PageFacts | None = None) -> list[Path]:
    """The prediction files, then clue-report.json (with each prediction file's sha256 in its manifest, checked
    by merge and compare) and clue-report.md. The JSON and Markdown hold no sample text (ids, counts, metrics,
    kinds), so --clue-redact leaves them as they are. `page`: what the page's first pass needs, kept as the
    rows are written (`spliced.PageFacts`). Raises OSError."""
    directory.mkdir(parents=True, exist_ok=True)
    ignore_report_parts(directory)  # predictions and the page quote samples: not staged by `git add -A`
    pred_dir = directory / PREDICTIONS
    pred_dir.mkdir(exist_ok=True)
    for stale in pred_dir.glob("*.jsonl"):  # a task not in this run must not keep an older run's file
        stale.unlink()
    page = page if page is not None else PageFacts()
    redacted = bool(report.run.get("redacted"))
    if redacted:  # the page shows the hashed prompts: it finds their start itself
        page.give_up()
    predictions = []
    with SpoolReader() as reader:
        for task, records in report.records_to_write().items():
            path = pred_dir / f"{task}.jsonl"
            ordered = sorted(records, key=lambda r: r.index)
            with path.open("wb") as handle:  # the texts' JSON spliced in as the spool holds it (spliced.py)
                handle.writelines((plain_line(redact_row(row_read_back(r, reader))) for r in ordered) if redacted
                                  else prediction_lines(task, ordered, reader, page))
            predictions.append(path)
    json_path = directory / REPORT_JSON
    data = stamped(report.as_dict(), predictions)
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path = directory / REPORT_MD
    md_path.write_text(markdown(report), encoding="utf-8")
    return [json_path, md_path, *predictions]


def write_page(directory: Path, report: Report, page: PageFacts | None = None) -> Path:
    """index.html from the report and the rows the prediction files hold, written as they are read (raises
    OSError, ValueError). `page`: what `write_files` kept for it; without it the rows are read once more."""
    known = page.known() if page is not None else None
    if page is None or known is None:
        return write_streamed_page(directory, report.as_dict(), lambda: prediction_rows(report))
    return write_streamed_page(directory, report.as_dict(), lambda: page_rows(report.records_to_write(), page),
                               known=known)


def write_folder(directory: Path, report: Report) -> list[Path]:
    """Every file of the folder; index.html third. Raises OSError (and ValueError from the page)."""
    page = PageFacts()
    written = write_files(directory, report, page)
    written.insert(2, write_page(directory, report, page))
    return written
