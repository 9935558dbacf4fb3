"""``clue compare REF DIR [DIR ...]``: the paper's headline table for runs against a reference run.

Writes the Markdown to stdout and to ``--out`` (default ``DIR/compare.md`` of the first DIR), the
numbers behind it to the same name with ``.json``, and a forest plot beside it (``.svg``, and ``.png`` where matplotlib is installed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from clue_checks.errors import ClueError

# The statistics (numpy, scipy, matplotlib) are imported when the command runs: every `clue` command
# builds this parser, and `clue serve-baseline` should not wait for them.
DEFAULT_SEED = 20240411  # = comparison.COMPARISON_SEED (a test keeps them equal)
DEFAULT_RESAMPLES = 100_000  # = comparison.COMPARISON_RESAMPLES


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "compare", help="headline table of runs against a reference run, with paired differences and a forest plot",
        description="Compare report directories against a reference (paired on sample ids): each run's headline "
                    "metric per task and Level, the difference from REF with its 95%% interval and p-value, and the "
                    "samples that broke and were fixed. Runs whose manifests differ from REF's are refused.")
    p.add_argument("reference", metavar="REF", type=Path,
                   help="the reference run's report directory (e.g. the base model's)")
    p.add_argument("runs", metavar="DIR", type=Path, nargs="+", help="report directories to compare with REF")
    p.add_argument("--out", type=Path, help="the Markdown file (default: DIR/compare.md of the first DIR)")
    p.add_argument("--force", action="store_true", help="compare runs whose manifests differ, or whose prediction "
                   "files do not match their report's sha256 (the table says so)")
    p.add_argument("--no-plot", action="store_true", help="do not draw the forest plot")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help="seed of the random sign patterns (default: %(default)s)")
    p.add_argument("--clue-longhealth-unit", choices=("patient", "question"), default="patient",
                   help="LongHealth's resampling unit: the patient (default; the estimand is patients like "
                        "these) or the question (these patients' records, questions like these)")
    p.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES,
                   help="random sign patterns for a sign-flip test with more than 20 differing units "
                        "(default: %(default)s; fewer give p-values with fewer printed digits)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit codes: 0 compared, 2 a report directory could not be read or the runs are not comparable."""
    from clue_checks.report.compare.table import as_dict, compare_dirs, forest_rows, markdown
    from clue_checks.report.integrity import forced_note, verify_folders
    from clue_checks.report.run_dir import load_run_dir

    if args.resamples < 1000:
        return _fail("--resamples must be at least 1000")
    try:
        reference = load_run_dir(args.reference)
        runs = [load_run_dir(path) for path in args.runs]
        forced = verify_folders([args.reference, *args.runs], force=args.force, what="compare")
        comparisons = compare_dirs(reference, runs, force=args.force, seed=args.seed, resamples=args.resamples,
                                   longhealth_unit=args.clue_longhealth_unit)
    except ClueError as exc:  # RunDirError, ComparabilityError, IntegrityError: one line, exit 2
        return _fail(str(exc))
    out: Path = args.out or args.runs[0] / "compare.md"
    stem = out.parent / (out.name[: -len(out.suffix)] if out.suffix else out.name)
    plot_files: list[str] = []
    note = None
    if args.no_plot:
        note = "not drawn (--no-plot)."
    else:
        from clue_checks.report.compare.forest import PNG_NEEDS_MATPLOTLIB, forest_plot

        names = ", ".join(r.name for r in runs)
        plot_files = [p.name for p in forest_plot(forest_rows(reference, comparisons), stem,
                                                  reference=reference.name, title=f"{names} vs {reference.name}")]
        if not any(name.endswith(".png") for name in plot_files):
            print(PNG_NEEDS_MATPLOTLIB, file=sys.stderr)
    text = markdown(reference, comparisons, plot_files=plot_files, plot_note=note)
    text = f"**{forced_note(forced)}**\n\n{text}" if forced else text  # --force: the table says so
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    numbers = stem.parent / f"{stem.name}.json"
    numbers.write_text(json.dumps({"reference": str(args.reference), "runs": as_dict(comparisons),
                                   **({"integrity_forced": forced} if forced else {})},
                                                    indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    sys.stdout.write(text)
    print(f"\nwritten: {out}, {numbers}"
          + "".join(f", {out.parent / f}" for f in plot_files), file=sys.stderr)
    return 0


def _fail(message: str) -> int:
    print(f"clue compare: error: {message}", file=sys.stderr)
    return 2
