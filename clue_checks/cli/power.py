"""``clue power``: how many samples a comparison gate needs, and the smallest drop it sees at a given n.

    clue power --task mednli --drop 0.02 --discordance 0.10
    clue power --n 500 --drop 0.03 --discordance 0.15
    clue power --task meqsum --drop 0.01 --sd 0.12      # a continuous score: sd of per-sample differences
"""

from __future__ import annotations

import argparse
import math
import sys

# scipy and the power module are imported when the command runs: every `clue` command builds this parser.
POWER = 0.80  # = power.POWER (a test keeps them equal)
ALPHA = 0.05
BINARY_METRICS = ("accuracy",)  # headline metrics that are 0/1 per sample: McNemar applies


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "power", help="samples needed to see a drop at 80%% power, and the smallest drop seen at n",
        description="Power of the paired comparison gates, each with its own test. 0/1 scores (accuracy): "
                    "noninferior gates (and the pass side of no regression) read Tango's one-sided 95% bound, "
                    "a no-regression gate fails on the exact McNemar test, two-sided at 0.05 (before Holm). "
                    "Continuous scores (give --sd): the normal approximation of the sign-flip test.")
    p.add_argument("--task", help="take n from CLUE's size of this task (mednli, meqsum, problemsummary, "
                                  "longhealth-t1/-t2/-t3, medisumqa, medisumcode)")
    p.add_argument("--n", type=int, help="samples (pairs) in the comparison; default: the task's size")
    p.add_argument("--drop", type=float, required=True, help="the drop to detect, on the 0-1 scale (0.02 = 2 points)")
    p.add_argument("--discordance", type=float,
                   help="0/1 scores: the share of items the two models answer differently (e.g. 0.10)")
    p.add_argument("--sd", type=float, help="continuous scores: standard deviation of the per-sample differences")
    p.add_argument("--power", type=float, default=POWER, help="target power (default: %(default)s)")
    p.set_defaults(func=run)


def _fail(message: str) -> int:
    print(f"clue power: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Exit codes: 0 answered, 2 a usage error."""
    from clue_checks.report.numbers.levels import HEADLINE
    from clue_checks.report.numbers.power import (TASK_SIZES, mcnemar_detectable_drop, mcnemar_power, mcnemar_sample_size,
                        tango_detectable_margin, tango_power, tango_sample_size)

    if args.task is not None and args.task not in TASK_SIZES:
        return _fail(f"unknown task {args.task!r}; choose one of: {', '.join(TASK_SIZES)}")
    if args.task is None and args.n is None:
        return _fail("give --task (CLUE's size of that task) or --n")
    size = TASK_SIZES.get(args.task) if args.task else None
    n = args.n if args.n is not None else size.independent  # type: ignore[union-attr]
    if n < 1 or not 0 < args.drop < 1 or not 0 < args.power < 1:
        return _fail("need --n >= 1, 0 < --drop < 1 and 0 < --power < 1")
    binary = args.task is None or HEADLINE.get(args.task) in BINARY_METRICS
    if args.sd is not None:
        return _continuous(args, n, size)
    if not binary:
        return _fail(f"{args.task} is scored by {HEADLINE.get(args.task)}, not 0/1 per sample: McNemar does not apply; "
                     "give --sd, the standard deviation of the per-sample differences between the two models")
    if args.discordance is None:
        return _fail("give --discordance, the share of items the two models answer differently (e.g. 0.10)")
    if not 0 < args.discordance <= 1 or args.drop > args.discordance:
        return _fail(f"--discordance must be in (0, 1] and at least --drop ({args.drop:g}): a model can only lose "
                     "points on items the two answer differently")
    print(_header(args, n, size) + f", the models disagreeing on {args.discordance:.1%} of items "
          f"({args.power:.0%} power; noninferior: Tango's bound, an equal model passing; no regression: "
          "exact McNemar failing a model worse by the drop):")
    need = tango_sample_size(args.drop, args.discordance, power=args.power)
    seen = tango_detectable_margin(n, args.discordance, power=args.power)
    rows = [(f"noninferior {args.drop:g}", f"{ALPHA:g} one-sided", _count(need),
             f"{tango_power(n, args.drop, args.discordance):.1%}", "none" if seen is None else f"{seen:.4f}")]
    need = mcnemar_sample_size(args.drop, args.discordance, power=args.power, sided=2)
    seen = mcnemar_detectable_drop(n, args.discordance, power=args.power, sided=2)
    rows.append(("no regression", f"{ALPHA:g} two-sided", _count(need),
                 f"{mcnemar_power(n, args.drop, args.discordance, sided=2):.1%}",
                 "none" if seen is None else f"{seen:.4f}"))
    _table(rows, n, args.power)
    _notes(args, size)
    return 0


def _continuous(args: argparse.Namespace, n: int, size: object) -> int:
    from scipy.stats import norm

    from clue_checks.report.numbers.power import normal_detectable_drop

    if args.sd <= 0:
        return _fail("--sd must be above 0")
    print(_header(args, n, size) + f", per-sample differences with standard deviation {args.sd:g} "
          f"(normal approximation of the sign-flip test, {args.power:.0%} power):")
    rows = []
    for gate, sided in ((f"noninferior {args.drop:g}", 1), ("no regression", 2)):
        z = norm.ppf(1 - ALPHA / sided) + norm.ppf(args.power)
        need = math.ceil((z * args.sd / args.drop) ** 2)
        at_n = float(norm.cdf(args.drop / (args.sd / math.sqrt(n)) - norm.ppf(1 - ALPHA / sided)))
        seen = normal_detectable_drop(args.sd / math.sqrt(n), power=args.power, sided=sided)
        rows.append((gate, f"{ALPHA:g} {'one' if sided == 1 else 'two'}-sided", _count(need), f"{at_n:.1%}",
                     f"{seen:.4f}"))
    _table(rows, n, args.power)
    _notes(args, size)
    return 0


def _header(args: argparse.Namespace, n: int, size: object) -> str:
    where = f"{args.task}: n = {n:,}" if args.task else f"n = {n:,}"
    points = round(args.drop * 100, 6)
    return f"{where}. To detect a drop of {args.drop:g} ({points:g} point{'' if points == 1 else 's'})"


def _count(n: int | None) -> str:
    return "more than 10,000,000" if n is None else f"{n:,}"


def _table(rows: list[tuple[str, ...]], n: int, power: float) -> None:
    head = ("gate", "alpha", f"samples for {power:.0%} power", f"power at n = {n:,}", "smallest drop seen at n")
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    for row in (head, *rows):
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def _notes(args: argparse.Namespace, size: object) -> None:
    if size is not None:
        print(f"note: {args.task}: {size.note}")  # type: ignore[attr-defined]
    print("note: noninferior: the chance that a model equal to the baseline passes that margin (a no-regression "
          "gate passes the same way, with its margin); no regression: the chance its exact test fails a model "
          "worse by the drop, before Holm's correction (with k such gates the first is tested at 0.05/k); "
          "samples for 0/1 noninferior rows to within 0.2%")
