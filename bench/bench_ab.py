"""Two checkouts of clue-checks, alternately, on the same simulated server: the CPU and wall of each.

For a change whose gain is smaller than this machine's drift between whole bench runs (its speed
varies by up to 1.7x over a day): each round runs the MeQSum suite once with A and once with B
(the order alternates), against one `sim_server.py` (128 slots by default), the same data and
flags as `bench_vs_ideal.py`, and prints the medians and the spread.

    python bench/bench_ab.py --a ../main-before --a-python ../venv-before/bin/python --rounds 4

--b defaults to this checkout and bench/.venv-user. A checkout's interpreter must import clue_checks
from that checkout (a venv with `pip install -e` of it; the check runs first).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import meqsum_synth
from _harness import DEFAULT_REPO, check_plugin_source, ensure_user_venv, median, meqsum_suite, suite_env, timed
from sim_server import SimServer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", type=Path, required=True, help="the first checkout (say, before the change)")
    parser.add_argument("--a-python", required=True, help="an interpreter importing clue_checks from --a")
    parser.add_argument("--b", type=Path, default=DEFAULT_REPO, help="the second checkout (default: this one)")
    parser.add_argument("--b-python", default=None, help="default: bench/.venv-user")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--samples", type=int, default=997)
    parser.add_argument("--slots", type=int, default=128)
    args = parser.parse_args()
    b_python = args.b_python or str(ensure_user_venv(args.b.resolve()))
    sides = {"A": (args.a.resolve(), args.a_python), "B": (args.b.resolve(), b_python)}
    for repo, python in sides.values():
        check_plugin_source(repo, python)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory(prefix="clue-ab-") as tmp_name, \
            SimServer(slots=args.slots, advertise="tgi") as server:
        tmp = Path(tmp_name)
        meqsum_synth.write(tmp / "data", args.samples + 3)
        for round_ in range(args.rounds):
            order = list(sides) if round_ % 2 == 0 else list(reversed(sides))
            for name in order:
                repo, python = sides[name]
                server.reset()
                result = timed(meqsum_suite(python, server.url, tmp / "data", tmp / f"report-{name}"), cwd=repo,
                               env=suite_env(repo), log=tmp / f"pytest-{name}.log")
                answered = server.stats()["completed"]
                if result.returncode not in (0, 1) or answered != args.samples:
                    raise SystemExit(f"{name} ({repo}): exit {result.returncode}, {answered} answered; "
                                     f"see {tmp / f'pytest-{name}.log'}")
                runs[name].append((result.wall_s, result.cpu_s))
                print(f"  round {round_ + 1} {name}: {result.wall_s:.2f} s, cpu {result.cpu_s:.2f} s", flush=True)
    print()
    for name, (repo, _) in sides.items():
        walls, cpus = [w for w, _ in runs[name]], [c for _, c in runs[name]]
        print(f"{name} {repo.name}: wall {median(walls):.2f} s ({min(walls):.2f}-{max(walls):.2f}), "
              f"CPU {median(cpus):.2f} s ({min(cpus):.2f}-{max(cpus):.2f}), median of {len(cpus)}")
    a_cpu, b_cpu = (median([c for _, c in runs[n]]) for n in sides)
    print(f"B - A: {b_cpu - a_cpu:+.2f} s of CPU, {1000 * (b_cpu - a_cpu) / args.samples:+.2f} ms per sample")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
