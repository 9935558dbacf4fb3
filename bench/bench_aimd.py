"""The in-flight limit against a server with fewer slots than --clue-concurrency: how close to an ideal client.

Two measurements, each for this checkout and for `--base` (another checkout, e.g. main):

- **virtual time** (deterministic): the checkout's own `AdaptiveLimit`, built by its `limit_for` as a run
  with `--clue-concurrency=CAP` would build it, drives the model of `tests/window_model.py` (a server with
  SLOTS slots that refuses a try above them at once). Printed: the mean of the server's busy slots / SLOTS,
  the virtual time over an ideal client's (always SLOTS in flight), and the 429s. The same every run.
- **wall clock** (`--reps` alternating rounds): the real MeQSum suite against `sim_server.py` with SLOTS slots,
  `--clue-concurrency=CAP`, beside the ideal client (`ideal_client.py`, SLOTS in flight): the whole run, and
  the span the server was serving it (first generation request to last answer), where the in-flight limit
  shows. Indicative only on a shared machine: medians and spread are printed.

    python bench/bench_aimd.py --base ../main                      # both, about 5 minutes on 2 cores
    python bench/bench_aimd.py --base ../main --reps 0             # virtual time only, seconds

`--advertise none` hides the server's limit (no TGI /info), so the limit has to be found from 429s alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import ideal_client
import meqsum_synth
from _harness import BENCH, DEFAULT_REPO, check_plugin_source, meqsum_suite, suite_env, timed
from sim_server import SimServer

VIRTUAL_REQUESTS = 3000


class Fixed:
    """The ideal client: always `size` in flight, never refused."""

    paused_until = 0.0

    def __init__(self, size: int) -> None:
        self.size = size

    def sent(self, in_flight: int) -> int:
        return 0

    def answered(self, ticket: int, latency: float) -> None:
        pass

    def overloaded(self, ticket: int, now: float) -> None:
        pass


def virtual(slots: int, cap: int, advertise: bool) -> dict[str, float]:
    """Run in the measured checkout (its clue_checks first on sys.path): one deterministic simulation."""
    sys.path.insert(0, str(BENCH.parent / "tests"))
    from window_model import Clock, LimitModel, simulate

    from clue_checks.endpoint.retry import RetryPolicy
    from clue_checks.endpoint.routing import limit_for
    from clue_checks.endpoint.types import EndpointInfo

    info = EndpointInfo("http://sim", "tgi", "sim", max_concurrent_requests=slots if advertise else None)
    clock = Clock()
    limit, _ = limit_for([info], cap, 1.0, RetryPolicy())
    trace = simulate(LimitModel(limit, clock), VIRTUAL_REQUESTS, lambda now: slots, clock)
    ideal = simulate(Fixed(slots), VIRTUAL_REQUESTS, lambda now: slots)
    return {"busy_share": trace.busy_slot_seconds / trace.finished_at / slots,
            "vs_ideal": trace.finished_at / ideal.finished_at, "refusals": trace.refusals,
            "final": limit.limit, "decreases": limit.decreases}


def virtual_in(repo: Path, args: argparse.Namespace) -> dict[str, float]:
    code = (f"import sys; sys.path.insert(0, {str(BENCH)!r}); import bench_aimd, json; "
            f"print(json.dumps(bench_aimd.virtual({args.slots}, {args.cap}, {args.advertise == 'tgi'})))")
    out = subprocess.run([sys.executable, "-c", code], env=suite_env(repo), cwd=repo, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def serving_span(server: SimServer) -> float:
    """From the first generation request to the last answer, at the server: the run less its start and end."""
    stats = server.stats()
    return stats["last_response_wall"] - stats["first_generation_wall"]


def wall_clock(args: argparse.Namespace, checkouts: dict[str, Path]) -> None:
    with tempfile.TemporaryDirectory() as tmp_name, SimServer(slots=args.slots, advertise=args.advertise) as server:
        tmp = Path(tmp_name)
        meqsum_synth.write(tmp / "data", args.samples + 3)
        record = tmp / "bodies.jsonl"
        first = next(iter(checkouts.values()))
        server.reset(record)  # an untimed warm-up that records the bodies the ideal client replays
        timed(meqsum_suite(args.python, server.url, tmp / "data", tmp / "warm"), cwd=first, env=suite_env(first))
        bodies = ideal_client.load_bodies(record)
        names = ["ideal client", *checkouts]
        walls: dict[str, list[float]] = {name: [] for name in names}
        spans: dict[str, list[float]] = {name: [] for name in names}
        refusals: dict[str, list[int]] = {name: [] for name in names}
        for rep in range(args.reps):
            server.reset()
            walls["ideal client"].append(ideal_client.run_ideal(server.url, bodies, args.slots).wall_s)
            spans["ideal client"].append(serving_span(server))
            refusals["ideal client"].append(server.stats()["rejected_429"])
            order = list(checkouts.items())[::1 if rep % 2 == 0 else -1]  # alternate which goes first
            for name, repo in order:
                server.reset()
                cmd = meqsum_suite(args.python, server.url, tmp / "data", tmp / f"report-{name}-{rep}",
                                   f"--clue-concurrency={args.cap}")
                run = timed(cmd, cwd=repo, env=suite_env(repo))
                stats = server.stats()
                if run.returncode not in (0, 1) or stats["completed"] != args.samples:
                    raise SystemExit(f"{name} rep {rep + 1}: exit {run.returncode}, {stats['completed']} answered")
                walls[name].append(run.wall_s)
                spans[name].append(serving_span(server))
                refusals[name].append(stats["rejected_429"])
                print(f"  rep {rep + 1} {name}: {run.wall_s:.2f} s, serving {spans[name][-1]:.2f} s, "
                      f"{stats['rejected_429']} 429s (ideal {spans['ideal client'][-1]:.2f} s)", flush=True)
    print(f"\nwall clock: {args.samples} MeQSum samples, {args.slots} slots, --clue-concurrency={args.cap}, "
          f"{args.reps} alternating rounds (indicative: a shared machine). Serving: the first generation "
          "request to the last answer, at the server.")
    print("| client | wall, median (min, max) | serving, median (min, max) | serving / ideal | 429s (median) |")
    print("|---|---|---|---:|---:|")
    ideal = statistics.median(spans["ideal client"])
    for name in names:
        print(f"| {name} | {spread(walls[name])} | {spread(spans[name])} | "
              f"{statistics.median(spans[name]) / ideal:.3f} | {statistics.median(refusals[name]):.0f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=DEFAULT_REPO, help="the checkout measured (default: this one)")
    parser.add_argument("--base", type=Path, help="another checkout to measure beside it (e.g. main)")
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--cap", type=int, default=128, help="--clue-concurrency")
    parser.add_argument("--advertise", choices=("tgi", "none"), default="tgi")
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--reps", type=int, default=3, help="alternating wall-clock rounds (0: virtual time only)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs pytest")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    checkouts = {"this checkout": args.repo.resolve()}
    if args.base:
        checkouts = {"base": args.base.resolve(), **checkouts}
    print(f"virtual time: {VIRTUAL_REQUESTS} requests, {args.slots} slots, --clue-concurrency={args.cap}, "
          f"server limit {'advertised' if args.advertise == 'tgi' else 'not advertised'}")
    print("| checkout | busy slots / slots | time / ideal | 429s | final limit |\n|---|---:|---:|---:|---:|")
    for name, repo in checkouts.items():
        v = virtual_in(repo, args)
        print(f"| {name} | {v['busy_share']:.3f} | {v['vs_ideal']:.3f} | {v['refusals']} | {v['final']} |")
    if args.reps:
        for repo in checkouts.values():
            check_plugin_source(repo, args.python)
        wall_clock(args, checkouts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
