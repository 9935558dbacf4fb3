"""Start-up: what a CLUE run pays before its first request, and what importing the plugin costs.

1. Import times, median of `--reps` runs each (steady state: bytecode cached):
   `python -c pass`, `python -c "import pytest"`, `python -c "import clue_checks.plugin"`, and
   a one-test pytest session elsewhere with and without our plugin (`-p no:clue_checks`), and
   `python -X importtime -c "import clue_checks.plugin"`'s heaviest imports (cumulative and self).
   Because the plugin is a pytest11 entry point, every pytest session in the environment imports
   it, CLUE or not.
2. A real MeQSum run (997 prompts) against `sim_server.py`: the time from process start to the
   first HTTP request at the server (health check), to the first generation request, and from
   the last answer to the process's exit; default and `-n 2`. Also `pytest --co -q` (collection
   only) of the same run.

    python bench/bench_startup.py
    python bench/bench_startup.py --repo ../other-checkout --reps 5
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import meqsum_synth
from _harness import add_repo_argument, prepare, suite_env, timed
from sim_server import SimServer


def wall(cmd: list[str], repo: Path, reps: int, cwd: Path | None = None) -> tuple[float, str]:
    """Median wall time, and what the run said when it did not exit 0."""
    env = suite_env(repo)
    subprocess.run(cmd, cwd=cwd or repo, env=env, capture_output=True)  # bytecode written
    times, problem = [], ""
    for _ in range(reps):
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=cwd or repo, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            lines = (done.stdout + done.stderr).strip().splitlines()
            problem = f"exit {done.returncode}: {lines[0][:160] if lines else ''}"
    return statistics.median(times), problem


def importtime(python: str, repo: Path, module: str, top: int) -> tuple[int, list[tuple[int, int, str]]]:
    """(total µs, [(cumulative µs, self µs, module)]) from -X importtime, median-free: the 2nd run."""
    cmd = [python, "-X", "importtime", "-c", f"import {module}"]
    subprocess.run(cmd, cwd=repo, env=suite_env(repo), capture_output=True)
    err = subprocess.run(cmd, cwd=repo, env=suite_env(repo), capture_output=True, text=True).stderr
    rows = []
    for line in err.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            rows.append((int(m[2]), int(m[1]), len(m[3]), m[4]))
    total = max((cum for cum, _, _, name in rows if name == module), default=0)
    top_level = sorted(((cum, own, name) for cum, own, depth, name in rows), reverse=True)
    return total, top_level[:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_repo_argument(parser)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--top", type=int, default=15)
    a = parser.parse_args()
    source = prepare(a)
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, clue_checks from {source}\n")
    empty = Path(tempfile.mkdtemp(prefix="clue-empty-"))
    (empty / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    print("| command | wall s (median) | note |")
    print("|---|---:|---|")
    for label, cmd in (("python -c pass", [a.python, "-c", "pass"]),
                       ("python -c 'import pytest'", [a.python, "-c", "import pytest"]),
                       ("python -c 'import clue_checks.plugin'", [a.python, "-c", "import clue_checks.plugin"]),
                       ("pytest -q, one trivial test in another project (every pytest11 plugin, ours included)",
                        [a.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_nothing.py"]),
                       ("the same with -p no:clue_checks", [a.python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                                            "-p", "no:clue_checks", "test_nothing.py"])):
        seconds, problem = wall(cmd, a.repo, a.reps, cwd=empty if "test_nothing.py" in cmd else None)
        print(f"| `{label}` | {seconds:.2f} | {problem} |", flush=True)
    shutil.rmtree(empty, ignore_errors=True)
    total, rows = importtime(a.python, a.repo, "clue_checks.plugin", a.top)
    print(f"\n`python -X importtime -c 'import clue_checks.plugin'`: {total / 1e6:.2f} s in all; "
          f"heaviest imports (cumulative includes what they import):\n")
    print("| module | cumulative s | self s |")
    print("|---|---:|---:|")
    for cum, own, name in rows:
        print(f"| `{name}` | {cum / 1e6:.3f} | {own / 1e6:.3f} |")
    with tempfile.TemporaryDirectory(prefix="clue-startup-") as tmp_name:
        tmp = Path(tmp_name)
        meqsum_synth.write(tmp / "data", 1000)
        with SimServer(slots=128) as server:
            base = ["tests_clinical/test_meqsum.py", f"--model-endpoint={server.url}", "--clue-tasks=meqsum",
                    f"--clue-data={tmp / 'data'}", "--clue-no-cache", "-q"]
            co = []
            for i in range(a.reps):
                co.append(timed([a.python, "-m", "pytest", *base, "--co", f"--clue-report-dir={tmp / f'co{i}'}"],
                                cwd=a.repo, env=suite_env(a.repo)).wall_s)
            print(f"\n`pytest --co -q` of the 997-prompt MeQSum run (collection only): {statistics.median(co):.2f} s "
                  f"(median of {a.reps})\n")
            print("| run (997 MeQSum prompts, 128 slots) | start → first request (health) s | start → first generation s "
                  "| last answer → exit s | wall s |")
            print("|---|---:|---:|---:|---:|")
            timed([a.python, "-m", "pytest", *base, f"--clue-report-dir={tmp / 'warm'}"], cwd=a.repo, env=suite_env(a.repo))
            for label, extra in (("default", []), ("-n 2", ["-n", "2"])):
                firsts, gens, tails, walls = [], [], [], []
                for i in range(a.reps):
                    server.reset()
                    r = timed([a.python, "-m", "pytest", *base, *extra, f"--clue-report-dir={tmp / f'{label}{i}'}"],
                              cwd=a.repo, env=suite_env(a.repo))
                    s = server.stats()
                    firsts.append(s["first_request_wall"] - r.started_wall)
                    gens.append(s["first_generation_wall"] - r.started_wall)
                    tails.append(r.ended_wall - s["last_response_wall"])
                    walls.append(r.wall_s)
                med = statistics.median
                print(f"| {label} | {med(firsts):.2f} | {med(gens):.2f} | {med(tails):.2f} | {med(walls):.2f} |",
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
