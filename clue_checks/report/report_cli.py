"""`clue report …`: work on report folders after the run. Each action registers in `_actions()`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def _merge(args: argparse.Namespace) -> int:
    from .merge import MergeError, merge_folders

    try:
        merged, paths = merge_folders(Path(args.out), [Path(p) for p in args.inputs],
                                      thresholds_file=Path(args.thresholds) if args.thresholds else None,
                                      recompute_batched=not args.carry_batched)
    except MergeError as exc:
        print(f"clue report merge: {exc}", file=sys.stderr)
        return 2
    result = merged.result
    print(f"merged {len(args.inputs)} report folders into {paths[0].parent}: verdict {result.verdict.upper()}"
          + (f" ({'; '.join(result.verdict_reasons)})" if result.verdict_reasons else ""))
    for note in merged.report["run"].get("merge_notes", ()):
        print(f"note: {note}")
    if args.thresholds:
        return 0 if result.passed else 1
    return 0


def _add_merge(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    merge = sub.add_parser(
        "merge", help="combine the report folders of shards (--clue-shard=K/N) into the report of the whole run",
        description="Combine shard report folders into one report (as one unsharded run would have written it, "
                    "apart from timestamps and request counts) and decide the gates on it.")
    merge.add_argument("out", metavar="OUT", help="folder for the merged report")
    merge.add_argument("inputs", metavar="SHARD_DIR", nargs="+", help="a shard's report folder (its --clue-report-dir)")
    merge.add_argument("--thresholds", metavar="FILE",
                       help="decide the gates by this thresholds file and exit with the verdict (0: PASS, 1: not "
                            "a pass); without it the shards' own thresholds are used and the exit code is 0")
    merge.add_argument("--carry-batched", action="store_true",
                       help="use the BERTScore values the shards computed instead of recomputing them over all "
                            "samples (per-pair values do not depend on the batch)")
    merge.set_defaults(func=_merge)


def _html(args: argparse.Namespace) -> int:
    """Exit codes: 0 the page is written, 2 the folder is not a readable report directory."""
    from .html import ReportDirError, write_html

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
    html.add_argument("dir", metavar="DIR", help="a report directory (what --clue-report-dir named; default clue-report)")
    html.set_defaults(func=_html)


def _actions() -> list[Callable[[argparse._SubParsersAction], object]]:  # type: ignore[type-arg]
    """Each `clue report` action registers itself here (one line each)."""
    return [_add_merge, _add_html]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    report = subparsers.add_parser("report", help="work on report folders (merge shards, rebuild the HTML page)",
                                   description="Work on clue-checks report folders.")
    actions = report.add_subparsers(dest="report_command", metavar="ACTION", required=True)
    for register in _actions():
        register(actions)
