"""`index.html`: the report as one self-contained page that opens from disk with no network.

    write_html(Path("clue-report"))  # reads clue-report.json + predictions/*.jsonl, writes clue-report/index.html

Hospitals read reports on air-gapped machines, and model output is untrusted input. So the page has no
external reference at all (styles, script and charts inline). The page is one Jinja2 template,
`html_assets/page.html`, rendered with autoescaping from the values `html_view` makes of the report; the
summary charts are static SVG drawn in Python with every label escaped; the samples travel as JSON inside
`<script type="application/json">` (with `<`, `>`, `&`, U+2028 and U+2029 escaped, so no text can close the
element) and the page's script puts them on screen with `textContent` only. The sample table is paginated
and the drill-down built on demand, so 10,000 samples open at once.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import PackageLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from clue_checks.errors import ReportError
from clue_checks.report.document import Report, ReportFormatError
from clue_checks.report.files import PAGE, PREDICTIONS, REPORT_JSON
from clue_checks.report.prediction_lines import PredictionLineError, prediction_rows
from clue_checks.report.write import html_view as view
from clue_checks.report.write.html_rows import PromptKeeper, normalise_row

_ASSETS = "html_assets"


class ReportDirError(ReportError):
    """The folder is not a report directory, or one of its files cannot be read: names the file and the fix."""


# -- reading ------------------------------------------------------------------------------------


def load_report(report_dir: Path) -> dict[str, Any]:
    path = report_dir / REPORT_JSON
    if not path.is_file():
        raise ReportDirError(f"{report_dir}: no {REPORT_JSON} here; give the folder a run wrote with --clue-report-dir "
                             "(default: clue-report), or a merged report directory")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportDirError(f"{path}: not a JSON report ({exc}); rerun the suite to write it again") from None
    if not isinstance(report, dict):
        raise ReportDirError(f"{path}: expected a JSON object, got {type(report).__name__}")
    return report


def load_rows(report_dir: Path) -> list[dict[str, Any]]:
    """Every prediction row of `predictions/*.jsonl`, in file order, each normalised by `normalise_row`,
    its prompt kept only as far as the page can show it (`PromptKeeper`)."""
    rows: list[dict[str, Any]] = []
    keeper = PromptKeeper()
    for path in sorted((report_dir / PREDICTIONS).glob("*.jsonl")):
        try:
            for _, raw in prediction_rows(path):
                rows.append(keeper.keep(normalise_row(raw, path.stem)))
        except PredictionLineError as exc:
            raise ReportDirError(str(exc)) from None
    return rows


# -- rendering ------------------------------------------------------------------------------------


def _escaped(value: Any) -> Markup:
    """How the template prints a value: escaped as `html.escape` spells it (`&quot;`, `&#x27;`, as the SVG charts
    are), where markupsafe would write `&#34;`, `&#39;`; Markup (a chart, the data) as it is. Autoescaping stays
    on beneath this: a value that reached it unescaped would still be escaped."""
    return value if isinstance(value, Markup) else Markup(escape(str(value)))


# The template is the package's own; the sandbox and autoescaping are for what it prints: nothing in a report
# (model output, task names) is ever read as template code or markup.
_PAGE = ImmutableSandboxedEnvironment(loader=PackageLoader(__package__, _ASSETS), autoescape=True,
                                      undefined=StrictUndefined, finalize=_escaped, keep_trailing_newline=True)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(_ASSETS, name).read_text(encoding="utf-8")


def render_page(report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> str:
    """The whole page as text (pure: the same report and rows give the same page)."""
    order = {task: i for i, task in enumerate(view.task_order(report, rows))}
    rows = sorted(rows, key=lambda r: order[r["task"]])  # the report's task order, each task in file order
    return page_around(report, rows, Markup(view.script_json(view.page_data(report, rows))))


def page_around(report: Mapping[str, Any], task_rows: Sequence[Mapping[str, Any]], data: Markup) -> str:
    """The page with `data` as its JSON island; `task_rows`: the rows, their `task` and `kinds` at least."""
    script = _asset("page.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    return _PAGE.get_template("page.html").render(
        style=Markup(_asset("page.css")), script=Markup(script),
        # Only this exact script may run: an injected inline script or event handler would be refused too.
        script_hash=Markup(f"'sha256-{digest}'"),
        header=view.header(report), manifest=view.manifest_items(report), scores=view.score_chart(report),
        metrics=view.metric_lines(report), gates=view.gate_lines(report), kinds=view.kinds_figures(report, task_rows),
        forest=view.forest_chart(report), data=data)


def write_html(report_dir: Path) -> Path:
    """Read the report directory back as a `Report` (document.py: the typed value a run writes) and write
    `index.html` from it into the folder; returns the page's path. The rows are the prediction files' own,
    already redacted where the run was."""
    report_dir = Path(report_dir)
    try:
        report = Report.from_dict(load_report(report_dir))
    except ReportFormatError as exc:
        raise ReportDirError(f"{report_dir / REPORT_JSON}: {exc}") from None
    return write_page(report_dir, report.as_dict(), load_rows(report_dir))


def write_page(report_dir: Path, report: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write `index.html` of a report (its JSON form) and its rows (`rows_of`, `load_rows`)."""
    page = render_page(report, rows)
    path = Path(report_dir) / PAGE
    # Lone surrogates in the static part (a model id read from JSON) become "?" rather than failing the write.
    path.write_bytes(page.encode("utf-8", errors="replace"))
    return path
