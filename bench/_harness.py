"""What the benchmark scripts share: which checkout is measured, timed child processes, medians.

`--repo DIR` names the clue-checks checkout whose suite and package are measured (default: the
one this file sits in), so the same scripts can measure another branch or main; the child's
PYTHONPATH starts with it, so `clue_checks` and its pytest plugin come from there.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
DEFAULT_REPO = BENCH.parent


@dataclass(frozen=True)
class Timed:
    wall_s: float
    cpu_s: float  # user + sys of the child and every descendant it waited for (xdist workers)
    returncode: int
    started_wall: float  # time.time() just before the child started (compare with the server's clock)
    ended_wall: float
    max_rss_kib: int = 0  # peak resident set of the child or its largest waited-for descendant (ru_maxrss)


USER_VENV = BENCH / ".venv-user"


def add_repo_argument(parser) -> None:  # argparse.ArgumentParser
    parser.add_argument("--repo", type=Path, default=DEFAULT_REPO,
                        help="the clue-checks checkout to measure (default: this one)")
    parser.add_argument("--python", default=None,
                        help="the interpreter that runs pytest (default: bench/.venv-user, a venv holding only "
                             "`pip install -e REPO`, as a user installs it; built on first use). Pass "
                             "--python \"$(command -v python)\" to measure a development venv")


def prepare(args) -> str:
    """Resolve --repo and --python (building the user venv when needed); return where clue_checks comes from."""
    args.repo = args.repo.resolve()
    if args.python is None:
        args.python = str(ensure_user_venv(args.repo))
    return check_plugin_source(args.repo, args.python)


def ensure_user_venv(repo: Path) -> Path:
    """bench/.venv-user/bin/python with clue-checks and its dependencies only, as `pip install clue-checks` gives.

    A development venv also holds the test extra's plugins: hypothesis's pytest plugin alone imports
    hypothesis at every session's terminal summary (about 0.3 s), a cost users do not pay. Rebuilt when
    pyproject.toml changes.
    """
    python = USER_VENV / "bin" / "python"
    marker = USER_VENV / "installed.txt"
    want = f"{repo} {hashlib.sha256((repo / 'pyproject.toml').read_bytes()).hexdigest()}"
    if python.exists() and marker.exists() and marker.read_text().strip() == want:
        return python
    print(f"installing clue-checks from {repo} into {USER_VENV} (once) ...", flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(USER_VENV)], check=True)
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e", str(repo)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"pip install -e {repo} into {USER_VENV} failed:\n{done.stdout}{done.stderr}")
    marker.write_text(want + "\n")
    return python


def suite_env(repo: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(repo.resolve()), *filter(None, [env.get("PYTHONPATH", "")])])
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.pop("PYTEST_ADDOPTS", None)
    return steady_state(env)


def steady_state(env: dict[str, str]) -> dict[str, str]:
    """Measure what a user's second run costs: bytecode (and pytest's rewritten-assert cache) written and reused.

    Some shells here set PYTHONDONTWRITEBYTECODE=1; then every run compiles every module from source
    and pytest re-rewrites every plugin module's asserts, seconds that no installed package pays.
    """
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(cmd: Sequence[str], *, cwd: Path, env: dict[str, str] | None = None, log: Path | None = None) -> Timed:
    """Run `cmd` to the end; wall time and the CPU it used (os.wait4: this child only, not the server)."""
    out = open(log, "w") if log else subprocess.DEVNULL
    try:
        started_wall, started = time.time(), time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log:
            out.close()
    return Timed(wall, usage.ru_utime + usage.ru_stime, proc.returncode, started_wall, time.time(), usage.ru_maxrss)


def meqsum_suite(python: str, url: str, data: Path, report: Path, *extra: str) -> list[str]:
    """The MeQSum suite as a user runs it against a server: the command the vs-ideal and A/B benches time."""
    return [python, "-m", "pytest", "tests_clinical/test_meqsum.py", f"--model-endpoint={url}", "--clue-tasks=meqsum",
            f"--clue-data={data}", "--clue-no-cache", f"--clue-report-dir={report}", "-q", *extra]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def check_plugin_source(repo: Path, python: str) -> str:
    """Where `clue_checks` comes from for the child: a wrong checkout would measure the wrong code."""
    # In the checkout, as the suite runs: `python -c` puts its working folder first on sys.path.
    out = subprocess.run([python, "-c", "import clue_checks; print(clue_checks.__file__)"], env=suite_env(repo),
                         cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
    if not Path(out).resolve().is_relative_to(repo.resolve()):
        raise SystemExit(f"clue_checks imports from {out}, not from --repo {repo}")
    return out
