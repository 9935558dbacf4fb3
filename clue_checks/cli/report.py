"""`clue report …`: work on report folders after the run. Each action registers in `_actions()`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from clue_checks.errors import ClueError


def _merge(args: argparse.Namespace) -> int:
    """Exit codes: the verdict's (0 pass, 1 fail / incomplete / not run, 6 inconclusive: report/verdict.py),
    2 the shards cannot be merged (or the merged report cannot be written)."""
    from clue_checks.report.integrity import verify_folders
    from clue_checks.report.merge import merge_folders
    from clue_checks.report.verdict import exit_code

    try:
        forced = verify_folders([Path(p) for p in args.inputs], force=args.force, what="merge")
        merged, paths = merge_folders(Path(args.out), [Path(p) for p in args.inputs],
                                      thresholds_file=Path(args.thresholds) if args.thresholds else None,
                                      recompute_batched=not args.carry_batched, integrity_forced=forced,
                                      baseline_dir=Path(args.baseline) if args.baseline else None,
                                      junit=Path(args.junitxml) if args.junitxml else None)
    except ClueError as exc:  # MergeError, IntegrityError: the message names the folder and the fix
        print(f"clue report merge: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"clue report merge: the merged report could not be written ({exc})", file=sys.stderr)
        return 2
    report = merged.report
    from clue_checks.report.write.terminal import summary_lines

    for line, _ in summary_lines(report):
        print(line)
    print(f"merged {len(args.inputs)} report folders into {paths[0].parent}: verdict {report.verdict.word.upper()}"
          + (f" ({'; '.join(report.verdict.reasons)})" if report.verdict.reasons else ""))
    for note in merged.notes:
        print(f"note: {note}")
    if report.comparison.error is not None:
        return 2
    return exit_code(report.verdict)


def _add_merge(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    merge = sub.add_parser(
        "merge", help="combine the report folders of shards (--clue-shard=K/N) into the report of the whole run",
        description="Combine shard report folders into one report (as one unsharded run would have written it, "
                    "apart from timestamps, request counts and timings), decide the gates and the comparison with "
                    "the shards' baseline on it, and exit with the verdict: 0 pass, 1 fail, incomplete or not run, "
                    "6 inconclusive, 2 the shards cannot be merged.")
    merge.add_argument("out", metavar="OUT", help="folder for the merged report")
    merge.add_argument("inputs", metavar="SHARD_DIR", nargs="+", help="a shard's report folder (its --clue-report-dir)")
    # Spelled as the pytest option; the unprefixed spelling stays too (no other plugin shares this command).
    merge.add_argument("--clue-thresholds", "--thresholds", dest="thresholds", metavar="FILE",
                       help="decide the gates by this thresholds file instead of the one the shards ran with")
    merge.add_argument("--carry-batched", action="store_true",
                       help="use the BERTScore values the shards computed instead of recomputing them over all "
                            "samples (per-pair values do not depend on the batch)")
    merge.add_argument("--baseline", metavar="DIR",
                       help="the report folder the shards were compared with (--clue-baseline), where it is no longer "
                            "at the path the shards name")
    merge.add_argument("--junitxml", metavar="FILE",
                       help="also write the JUnit XML a gate-mode run writes: each sample, each gate and the verdict "
                            "as testcases")
    merge.add_argument("--force", action="store_true",
                       help="merge although a prediction file does not match its report's sha256 (the merged "
                            "report says which)")
    merge.set_defaults(func=_merge)


def _html(args: argparse.Namespace) -> int:
    """Exit codes: 0 the page is written, 2 the folder is not a readable report directory."""
    from clue_checks.report.write.html import ReportDirError, write_html

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
