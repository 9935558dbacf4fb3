"""The speed targets as one table: before and after, each row's median, spread and target, measured alternately.

For one checkout (`--repo`, default this one) or two (`--base DIR` with `--base-python`, the "before"), every
row is measured in `--reps` rounds (default 3); in each round every job of a group runs once, in an order that
rotates round by round, so the machine's drift spreads over before, after and the ideal client alike. Printed:
one Markdown table with, per row, the before median, the after median, the spread (min–max over the rounds),
the target and whether the after median meets it.

Rows (`--rows` picks some; a group's server and warm-up run only when one of its rows is asked for):

- `meqsum128`: MeQSum at real size (997 prompts), `sim_server.py` with 128 slots, the suite's wall time over the
  ideal client's (`ideal_client.py` replaying the same request bodies, 128 in flight) in the same round.
- `xdist`: the same run with `-n 2` over the default run (xdist's `-n 0`: nothing distributed).
- `meqsum16`: as `meqsum128` on a 16-slot server (16 in flight for the ideal client).
- `aimd`: `--clue-concurrency=128` on that 16-slot server: the span the server was busy with the run (first
  generation request to last answer) over the ideal client's span.
- `mixed`, `mixed-exit`, `mixed-rss`: every bundled fixture plus full-scale synthetic LongHealth
  (`mixed_suite.py`: about 6,130 tests) against a 128-slot server: wall over the ideal client's, seconds from
  the last answer to the process's exit (the server's clock), peak RSS of the pytest process (os.wait4).
- `rss-scale`: LongHealth tasks 1–3 alone at 20,100 prompts (67 patients) on an instant server: peak RSS, to
  see that memory stays flat as prompts grow; printed under the table, bare pytest's peak RSS with as many
  tests (half failing, `-q --tb=no -rN`), the part of the growth that is pytest's own.
- `first-run`, `rerun`, `rerun-wall`: 20,000 MedNLI samples, half failing, on an instant server, pytest's
  default output: CPU of the first run (filling the store) and of the store-only rerun beyond bare pytest's
  floor (a plain test file with as many tests, as many failing, same interpreter, `-p no:clue_checks`, and
  pytest's cheapest output, `-q --tb=no -rN`: its default output is quadratic in thousands of failures), in
  ms/sample; the rerun's wall time.
- `lmeval` (only with `--lmeval`): lm-evaluation-harness at num_concurrent=128 beside the ideal client at 128
  slots (`lmeval_peer.py`, 3 runs): a peer for scale, no checkout of ours.

    python bench/bench_targets.py --quick                    # ~5 min on 2 quiet cores: smaller sizes, 1 round
    python bench/bench_targets.py --base ../before --base-python ../venv-before/bin/python --python VENV/bin/python

The full run (3 rounds, both checkouts) is estimated at about an hour on 2 quiet cores, from the per-run
times in bench/README.md (not yet timed whole): MeQSum at 128 slots ~3 min, at 16 slots ~9 min, the mixed
suite ~24 min (about 130 s a run for the ideal client, the server's prefill of long LongHealth prompts
included), LongHealth at 20k ~16 min, the store rows ~10 min; `--lmeval` adds ~4 min (and its install once).
`--quick` took 7.5 min on this 2-core machine at a load average of 8-10 (14 min at 12-16). Each interpreter must import
clue_checks from its checkout (checked first); `-n 2` needs pytest-xdist in it (`pip install -e "DIR[xdist]"`),
else that row says so. Default interpreter for `--repo`: bench/.venv-user (`_harness.py`). Not a test: timing
claims live here and in bench/README.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import _targets_groups as groups
from _harness import add_repo_argument, check_plugin_source, prepare

# key, what is measured, unit, target text, limit (met when the after median is <= limit; < when strict)
ROWS = [
    ("meqsum128", "real-size MeQSum {samples}, 128 slots, wall × ideal client (bytecode kept)", "×", "≤ 1.08×",
     1.08),
    ("xdist", "same, `-n 2` against `-n 0` (wall)", "×", "≤ 1.05×", 1.05),
    ("meqsum16", "16 slots, wall × ideal", "×", "≤ 1.03×", 1.03),
    ("aimd", "`--clue-concurrency=128` on a 16-slot server (AIMD), server busy × ideal", "×", "≤ 1.05×", 1.05),
    ("mixed", "mixed suite (bundled fixtures + LongHealth, {mixed} LongHealth prompts), wall × ideal", "×",
     "≤ 1.05×", 1.05),
    ("mixed-exit", "same, last answer → exit", "s", "≤ 1 s", 1.0),
    ("mixed-rss", "same, peak RSS", "MiB", "≤ 300 MiB", 300.0),
    ("rss-scale", "LongHealth alone, {rss} prompts, peak RSS (flat in prompts)", "MiB", "≤ 300 MiB", 300.0),
    ("first-run", "instant server, first run, CPU beyond bare pytest's floor ({rerun} samples)", "ms/sample",
     "≤ 1.0 ms/sample", 1.0),
    ("rerun", "store-only rerun, CPU beyond the floor", "ms/sample", "≤ 0.3 ms/sample", 0.3),
    ("rerun-wall", "{rerun} store-only rerun, default output, wall", "s", "< 25 s (at 20,000)", 25.0),
    ("lmeval", "lm-eval, num_concurrent=128, 128 slots, wall × ideal (a peer: after column)", "×", "", None),
]
GROUPS = [(("meqsum128", "xdist", "lmeval"), "meqsum_128"), (("meqsum16", "aimd"), "meqsum_16"),
          (("mixed", "mixed-exit", "mixed-rss"), "mixed"), (("rss-scale",), "rss_scale"),
          (("first-run", "rerun", "rerun-wall"), "store_rows")]
FULL = {"samples": 997, "mixed_patients": 20, "rss_patients": 67, "rerun_samples": 20000, "reps": 3}
QUICK = {"samples": 300, "mixed_patients": 2, "rss_patients": 4, "rerun_samples": 2000, "reps": 1}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_repo_argument(parser)
    parser.add_argument("--base", type=Path, help="the checkout before the change (its own interpreter: --base-python)")
    parser.add_argument("--base-python", help="an interpreter importing clue_checks from --base")
    parser.add_argument("--rows", nargs="+", choices=[key for key, *_ in ROWS], help="only these rows")
    parser.add_argument("--reps", type=int, help="alternating rounds (default 3; --quick: 1)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes and 1 round, for a ~5-minute look")
    parser.add_argument("--lmeval", action="store_true", help="add lm-eval's row (installs it on first use)")
    for key in ("samples", "mixed_patients", "rss_patients", "rerun_samples"):
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, help=f"default {FULL[key]} (--quick: {QUICK[key]})")
    args = parser.parse_args()
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.base and not args.base_python:
        parser.error("--base needs --base-python (a venv with `pip install -e` of that checkout)")
    args.lmeval = args.lmeval and not args.quick
    return args


def cell(values: list[float] | None, unit: str) -> tuple[str, str]:
    """(median, min–max) of one side's rounds, formatted for the unit."""
    if not values:
        return "—", ""
    digits = 0 if unit == "MiB" else 2 if unit in ("×", "s", "ms/sample") else 1
    fmt = lambda v: f"{v:.{digits}f}"  # noqa: E731
    return fmt(statistics.median(values)), f"{fmt(min(values))}–{fmt(max(values))}"


def table(ctx: groups.Context, wanted: set[str]) -> list[str]:
    a = ctx.args
    sizes = {"samples": a.samples, "mixed": f"{groups.longhealth_prompts(a.mixed_patients):,}",
             "rss": f"{groups.longhealth_prompts(a.rss_patients):,}", "rerun": f"{a.rerun_samples:,}"}
    lines = [f"| row | before median | after median | spread (min–max, {a.reps} rounds) | target | met? |",
             "|---|---:|---:|---|---|---|"]
    for key, label, unit, target, limit in ROWS:
        if key not in wanted or key not in ctx.values:
            continue
        before, b_spread = cell(ctx.values[key].get("before"), unit)
        after, a_spread = cell(ctx.values[key].get("after"), unit)
        spread = "; ".join(f"{side} {s}" for side, s in (("before", b_spread), ("after", a_spread)) if s)
        met = ""
        if limit is not None and after != "—":
            value = statistics.median(ctx.values[key]["after"])
            met = "yes" if (value < limit if key == "rerun-wall" else value <= limit) else "no"
            if key == "rerun-wall" and a.rerun_samples != 20000:
                met += " (smaller size)"
        suffix = "" if unit == "×" else f" {unit}"
        lines.append(f"| {label.format(**sizes)} | {before}{suffix if before != '—' else ''} | "
                     f"{after}{suffix if after != '—' else ''} | {spread} | {target} | {met} |")
    return lines


def main() -> int:
    args = parse()
    source = prepare(args)  # --repo and --python: the "after" checkout
    wanted = set(args.rows or [key for key, *_ in ROWS if key != "lmeval" or args.lmeval])
    if args.lmeval:
        wanted.add("lmeval")
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="clue-targets-") as tmp_name:
        tmp = Path(tmp_name)
        sides = []
        if args.base:
            check_plugin_source(args.base.resolve(), args.base_python)
            sides.append(groups.make_side("before", args.base.resolve(), args.base_python, tmp, args.samples))
        sides.append(groups.make_side("after", args.repo, args.python, tmp, args.samples))
        ctx = groups.Context(args, tmp, sides)
        for keys, runner in GROUPS:
            if wanted & set(keys):
                print(f"{runner} ...", flush=True)
                extra = {"lmeval": "lmeval" in wanted} if runner == "meqsum_128" else {}
                began = time.time()
                getattr(groups, runner)(ctx, **extra)
                print(f"{runner}: {time.time() - began:.0f} s", flush=True)
    print()
    checkouts = ", ".join(f"{s.name} = {s.repo} ({s.python})" for s in sides)
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {platform.node()}, Python {platform.python_version()}; {checkouts}; "
          f"after's clue_checks from {source}; {args.reps} alternating rounds; "
          f"bench took {time.time() - started:.0f} s")
    print()
    print("\n".join(table(ctx, wanted)))
    floors = ctx.values.get("_floor", {})
    if floors:
        print(f"\n- bare pytest's floor ({args.rerun_samples:,} tests, half failing, -q --tb=no -rN): " + ", ".join(
            f"{side} {statistics.median(v):.1f} s of CPU" for side, v in floors.items()))
    rss_floors = ctx.values.get("_rss_floor", {})
    if rss_floors:
        print(f"- bare pytest's peak RSS ({groups.longhealth_prompts(args.rss_patients):,} tests, half failing, "
              "-q --tb=no -rN), beside rss-scale: " + ", ".join(
                  f"{side} {statistics.median(v):.1f} MiB" for side, v in rss_floors.items()))
    for note in dict.fromkeys(ctx.notes):
        print(f"- {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
