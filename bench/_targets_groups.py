"""The measurements behind `bench_targets.py`: groups of runs that share one server, rounds alternating.

Each group starts one `sim_server.py`, then runs `reps` rounds; in each round every job of the group runs
once (the ideal client, each checkout's suite in its variants), in an order that rotates from round to round,
so the machine's drift spreads over all of them. A job's value for a row is kept per round; the table takes
the median and the min–max. Ratios to the ideal client are per round (this round's ideal run).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from _harness import Timed, suite_env, timed
from bench_aimd import serving_span
from bench_rerun_scale import suite as mednli_suite
from bench_rerun_scale import write_mednli
from bench_vs_ideal import Bench, Run, server_run
from ideal_client import load_bodies
from mixed_suite import longhealth_prompts, mixed_suite, write_mixed_data
from sim_server import SimServer

INSTANT = {"slots": 512, "overflow": "queue", "step_base": 0.0005, "step_per_seq": 0.0}  # answers at once
LONGHEALTH_FILES = tuple(f"tests_clinical/test_longhealth_t{n}.py" for n in (1, 2, 3))


@dataclass
class Side:
    name: str  # "before" or "after"
    repo: Path
    python: str
    bench: Bench  # bench_vs_ideal's runner of the MeQSum suite for this checkout
    xdist: bool = False


@dataclass
class Context:
    args: argparse.Namespace
    tmp: Path
    sides: list[Side]
    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # row -> side -> one value a round
    notes: list[str] = field(default_factory=list)

    def add(self, row: str, side: str, value: float) -> None:
        self.values.setdefault(row, {}).setdefault(side, []).append(value)
        if not row.startswith("_"):  # "_" rows are raw walls kept for a ratio
            print(f"    {row} {side}: {value:.3f}", flush=True)

    def cache_opt(self, side: Side) -> list[str]:
        """pytest's cache in the bench's folder, not in the checkout (the cache still works as a user's does)."""
        return ["-o", f"cache_dir={self.tmp / ('pytest-cache-' + side.name)}"]


def make_side(name: str, repo: Path, python: str, tmp: Path, samples: int) -> Side:
    folder = tmp / name
    folder.mkdir(parents=True)
    bench = Bench(argparse.Namespace(repo=repo, python=python, samples=samples, lmeval_concurrency=[128]), folder)
    has_xdist = subprocess.run([python, "-c", "import xdist"], capture_output=True).returncode == 0
    return Side(name, repo, python, bench, has_xdist)


def rounds(ctx: Context, jobs: list[tuple[str, Callable[[], None]]], label: str) -> None:
    """`reps` rounds of `jobs`; the order rotates each round (the ideal client first, then later, ...)."""
    for rep in range(ctx.args.reps):
        shift = rep % len(jobs)
        for name, go in jobs[shift:] + jobs[:shift]:
            go()
            print(f"  {label} round {rep + 1}: {name} done", flush=True)


def collect_once(ctx: Context, cmd: list[str], side: Side) -> None:
    """Untimed `--collect-only` of a group's command: this checkout's bytecode is written before the first round."""
    timed([*cmd, "--collect-only", *ctx.cache_opt(side)], cwd=side.repo, env=suite_env(side.repo))


def checked(run: Run, what: str) -> Run:
    if not run.ok:
        raise SystemExit(f"{what}: {run.note}")
    return run


# -- MeQSum at 128 and 16 slots --------------------------------------------------------------------------------


def meqsum_bodies(ctx: Context, server: SimServer) -> list[bytes]:
    """Untimed warm-up of every checkout (bytecode written, as on a user's second run); the last one records."""
    record = ctx.tmp / f"bodies-meqsum-{server.url.rsplit(':', 1)[-1]}.jsonl"
    for side in ctx.sides:
        checked(side.bench.suite(server, ctx.cache_opt(side), record if side is ctx.sides[-1] else None),
                f"{side.name} warm-up")
    bodies = load_bodies(record)
    if len(bodies) != ctx.args.samples:
        raise SystemExit(f"recorded {len(bodies)} distinct MeQSum bodies, expected {ctx.args.samples}")
    return bodies


def ratios(ctx: Context, row: str, measured: str, ideal: str) -> None:
    """Row `row` = each side's `measured` over the ideal client's `ideal`, round by round (both raw, "_" rows)."""
    yardstick = ctx.values.get(ideal, {}).get("ideal", [])
    for side in ctx.sides:
        for value, base in zip(ctx.values.get(measured, {}).get(side.name, []), yardstick):
            ctx.add(row, side.name, value / base)


def ideal_job(ctx: Context, server: SimServer, bodies: list[bytes], concurrency: int,
              wall_key: str, span_key: str) -> Callable[[], None]:
    def go() -> None:
        run = checked(ctx.sides[0].bench.ideal(server, bodies, concurrency), "ideal client")
        ctx.add(wall_key, "ideal", run.wall_s)
        ctx.add(span_key, "ideal", serving_span(server))
    return go


def suite_job(ctx: Context, server: SimServer, side: Side, extra: list[str], wall_key: str,
              span_key: str) -> Callable[[], None]:
    """One MeQSum run of `side` with `extra`: its wall and the server's busy span, kept raw for the ratios."""
    def go() -> None:
        run = checked(side.bench.suite(server, [*extra, *ctx.cache_opt(side)]), f"{side.name} {' '.join(extra)}")
        ctx.add(wall_key, side.name, run.wall_s)
        ctx.add(span_key, side.name, serving_span(server))
    return go


def meqsum_128(ctx: Context, lmeval: bool) -> None:
    """Rows meqsum128 (wall / ideal's wall) and xdist (-n 2 / the default, which is xdist's -n 0)."""
    with SimServer(slots=128, advertise="tgi") as server:
        bodies = meqsum_bodies(ctx, server)
        jobs = [("ideal client", ideal_job(ctx, server, bodies, 128, "_wall128", "_span128"))]
        for side in ctx.sides:
            jobs.append((f"{side.name} default", suite_job(ctx, server, side, [], "_wall128", "_span128")))
            if side.xdist:
                jobs.append((f"{side.name} -n 2", suite_job(ctx, server, side, ["-n", "2"], "_n2", "_span_n2")))
            else:
                ctx.notes.append(f"{side.name}: no pytest-xdist in {side.python}: `-n 2` not measured")
        rounds(ctx, jobs, "MeQSum 128 slots")
        ratios(ctx, "meqsum128", "_wall128", "_wall128")
        for side in ctx.sides:
            n2 = ctx.values.get("_n2", {}).get(side.name, [])
            for default, distributed in zip(ctx.values["_wall128"][side.name], n2):
                ctx.add("xdist", side.name, distributed / default)
        if lmeval:
            lmeval_row(ctx, server, bodies, statistics.median(ctx.values["_wall128"]["ideal"]))


def lmeval_row(ctx: Context, server: SimServer, bodies: list[bytes], ideal_wall: float) -> None:
    """lm-evaluation-harness at num_concurrent=128 (3 runs) over the ideal client's median: a peer, no checkout."""
    rows = ctx.sides[-1].bench.lmeval_rows(server, 128, bodies, first=False)
    for name, row in rows.items():
        for run in row.ok_runs():
            ctx.add("lmeval", "after", run.wall_s / ideal_wall)
        ctx.notes += [f"{name}: {r.note}" for r in row.runs if r.note]


def meqsum_16(ctx: Context) -> None:
    """Rows meqsum16 (wall / ideal's, 16 in flight) and aimd (--clue-concurrency=128: busy span / ideal's)."""
    with SimServer(slots=16, advertise="tgi") as server:
        bodies = meqsum_bodies(ctx, server)
        jobs = [("ideal client", ideal_job(ctx, server, bodies, 16, "_wall16", "_span16"))]
        for side in ctx.sides:
            jobs += [(f"{side.name} default", suite_job(ctx, server, side, [], "_wall16", "_span16_default")),
                     (f"{side.name} --clue-concurrency=128",
                      suite_job(ctx, server, side, ["--clue-concurrency=128"], "_wall_aimd", "_span_aimd"))]
        rounds(ctx, jobs, "MeQSum 16 slots")
        ratios(ctx, "meqsum16", "_wall16", "_wall16")
        ratios(ctx, "aimd", "_span_aimd", "_span16")


# -- the mixed suite and LongHealth's memory ---------------------------------------------------------------------


def mixed(ctx: Context) -> None:
    """Rows mixed (wall / ideal), mixed-exit (last answer to exit, s) and mixed-rss (peak RSS, MiB)."""
    data = write_mixed_data(ctx.tmp / "mixed-data", patients=ctx.args.mixed_patients)
    with SimServer(slots=128, advertise="tgi") as server:
        record = ctx.tmp / "bodies-mixed.jsonl"
        for side in ctx.sides:
            collect_once(ctx, mixed_suite(side.python, side.repo, server.url, data, ctx.tmp / "collect"), side)
        warm, _ = _mixed_run(ctx, server, ctx.sides[-1], data, record, None)
        bodies = load_bodies(record)
        if warm.answered != len(bodies):
            raise SystemExit(f"mixed warm-up: {warm.answered} answered, {len(bodies)} distinct bodies recorded")

        def job(side: Side) -> Callable[[], None]:
            def go() -> None:
                run, rss = _mixed_run(ctx, server, side, data, None, len(bodies))
                ctx.add("_wall_mixed", side.name, run.wall_s)
                ctx.add("mixed-exit", side.name, run.after_last_answer_s)
                ctx.add("mixed-rss", side.name, rss)
            return go

        ideal = ideal_job(ctx, server, bodies, 128, "_wall_mixed", "_span_mixed")
        rounds(ctx, [("ideal client", ideal), *((side.name, job(side)) for side in ctx.sides)], "mixed suite")
    ratios(ctx, "mixed", "_wall_mixed", "_wall_mixed")


def _mixed_run(ctx: Context, server: SimServer, side: Side, data: Path, record: Path | None,
               expected: int | None, files: tuple[str, ...] = ("tests_clinical",)) -> tuple[Run, float]:
    """One run of the mixed suite (or of `files` on the same data): the server's view of it and its peak RSS in MiB."""
    log = ctx.tmp / f"mixed-{side.name}.log"
    server.reset(record)
    cmd = mixed_suite(side.python, side.repo, server.url, data, ctx.tmp / f"mixed-report-{side.name}",
                      *ctx.cache_opt(side), files=files)
    result = timed(cmd, cwd=side.repo, env=suite_env(side.repo), log=log)
    run = server_run(server, result)
    if result.returncode not in (0, 1) or (expected is not None and run.answered != expected):
        raise SystemExit(f"{side.name} {' '.join(files)}: exit {result.returncode}, {run.answered} answered "
                         f"(expected {expected}); log {log}")
    return run, result.max_rss_kib / 1024


def rss_scale(ctx: Context) -> None:
    """Row rss-scale: LongHealth tasks 1-3 alone at ~20,000 prompts (instant server), peak RSS in MiB; beside it
    (`_rss_floor`) bare pytest's with as many tests, half failing, so the growth that is pytest's own shows."""
    data = write_mixed_data(ctx.tmp / "rss-data", patients=ctx.args.rss_patients)
    floor = write_floor(ctx.tmp / "rss-floor", longhealth_prompts(ctx.args.rss_patients))
    with SimServer(**INSTANT) as server:
        for side in ctx.sides:
            collect_once(ctx, mixed_suite(side.python, side.repo, server.url, data, ctx.tmp / "collect",
                                          files=LONGHEALTH_FILES), side)

        def job(side: Side) -> Callable[[], None]:
            def go() -> None:
                _, rss = _mixed_run(ctx, server, side, data, None, None, files=LONGHEALTH_FILES)
                ctx.add("rss-scale", side.name, rss)
                # Its cheapest output (its default is quadratic in failures: 5 min of CPU at 20,000); the peak
                # RSS is within 2 MiB of -q's.
                base = timed([side.python, "-m", "pytest", "test_floor.py", "-p", "no:clue_checks", "-q",
                              "--tb=no", "-rN"], cwd=floor, env=suite_env(side.repo))
                ctx.add("_rss_floor", side.name, base.max_rss_kib / 1024)
            return go

        rounds(ctx, [(side.name, job(side)) for side in ctx.sides], "LongHealth memory")


# -- the instant server: first run and store-only rerun, beyond bare pytest ------------------------------------


def write_floor(folder: Path, n: int) -> Path:
    """Bare pytest: n parametrized tests, every odd one failing with a one-line message, no plugin of ours.

    The failures carry no traceback (`pytrace=False`), as a sample's failure section does: pytest's own cost
    of a failing test and its section in the default output, not that of formatting an assert's source.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pytest.ini").write_text("[pytest]\n")  # the root: no outer configuration is found
    (folder / "test_floor.py").write_text(
        f"import pytest\n\n\n@pytest.mark.parametrize('i', range({n}))\ndef test_sample(i):\n"
        "    if i % 2:\n        pytest.fail(f'sample {i}: the answer does not match', pytrace=False)\n")
    return folder


def store_rows(ctx: Context) -> None:
    """Rows first-run and rerun (CPU beyond the floor, ms/sample) and rerun-wall (s): MedNLI, half failing."""
    n = ctx.args.rerun_samples
    data = write_mednli(ctx.tmp / "mednli-data", n)
    floor = write_floor(ctx.tmp / "floor", n)
    with SimServer(**INSTANT) as server:
        for side in ctx.sides:
            collect_once(ctx, [side.python, "-m", "pytest", "tests_clinical/test_mednli.py",
                               f"--model-endpoint={server.url}", f"--clue-data={data}", "--clue-no-cache", "-q"], side)

        def job(side: Side) -> Callable[[], None]:
            def go() -> None:
                # The floor's output is pytest's cheapest (--tb=no -rN): its default output grows quadratically with
                # thousands of failures (19 s of CPU for 5,000), so at 20,000 it would sit above the suite itself.
                # The suite keeps its default output, so "beyond the floor" errs against us.
                base = timed([side.python, "-m", "pytest", "test_floor.py", "-p", "no:clue_checks", "-q",
                              "--tb=no", "-rN"], cwd=floor,
                             env=suite_env(side.repo))
                fill, rerun = _fill_and_rerun(ctx, server, side, data, n)
                ctx.add("first-run", side.name, 1000 * (fill - base.cpu_s) / n)
                ctx.add("rerun", side.name, 1000 * (rerun.cpu_s - base.cpu_s) / n)
                ctx.add("rerun-wall", side.name, rerun.wall_s)
                ctx.add("_floor", side.name, base.cpu_s)
            return go

        rounds(ctx, [(side.name, job(side)) for side in ctx.sides], "store")


def _fill_and_rerun(ctx: Context, server: SimServer, side: Side, data: Path, n: int) -> tuple[float, Timed]:
    """A first run into an empty store, then a rerun from it; both with pytest's default output, both checked."""
    runner = argparse.Namespace(python=side.python, repo=side.repo)
    store = ctx.tmp / f"store-{side.name}"
    if store.exists():
        shutil.rmtree(store)
    fill, info = mednli_suite(runner, server.url, data, store, ctx.tmp / f"report-fill-{side.name}",
                              ctx.cache_opt(side), ctx.tmp / f"fill-{side.name}.log")
    if info["requests"].get("sent") != n or fill.returncode != 1:
        raise SystemExit(f"{side.name} first run: exit {fill.returncode}, {info}")
    rerun, info = mednli_suite(runner, server.url, data, store, ctx.tmp / f"report-rerun-{side.name}",
                               ctx.cache_opt(side), ctx.tmp / f"rerun-{side.name}.log")
    req = info["requests"]
    if req.get("sent") != 0 or req.get("from_store") != n or info["counts"].get("failed") != n // 2:
        raise SystemExit(f"{side.name} rerun: not all from the store or not half failing: {info}")
    return fill.cpu_s, rerun
