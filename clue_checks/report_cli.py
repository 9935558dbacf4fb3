"""``clue report ACTION DIR``: commands on a report directory. Registered by :func:`add_parser`.

Each action is one function in `ACTIONS` that adds its own subparser under `report` (a new action, such
as `merge`, is one function and one line in that list).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def _html(args: argparse.Namespace) -> int:
    """Exit codes: 0 the page is written, 2 the folder is not a readable report directory."""
    from .report.html import ReportDirError, write_html

    try:
        path = write_html(Path(args.dir))
    except ReportDirError as exc:
        print(f"clue report html: error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


def _add_html(actions: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    html = actions.add_parser(
        "html", help="(re)build DIR/index.html, the offline report page, from a report directory",
        description="Rebuild index.html (one self-contained page: scores, failure kinds, a filterable sample table) "
                    "from DIR/clue-report.json and DIR/predictions/*.jsonl. Works on a merged directory too.")
    html.add_argument("dir", metavar="DIR", help="a report directory (what --report-dir named; default clue-report)")
    html.set_defaults(func=_html)


ACTIONS: list[Callable[[argparse._SubParsersAction], object]] = [_add_html]  # type: ignore[type-arg]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    report = subparsers.add_parser("report", help="commands on a report directory (html)",
                                   description="Commands on a report directory that a run wrote.")
    actions = report.add_subparsers(dest="report_command", metavar="ACTION", required=True)
    for register in ACTIONS:
        register(actions)
