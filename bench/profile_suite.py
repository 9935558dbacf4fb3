"""Where the framework's CPU goes: py-spy and cProfile over two runs of the real suite.

1. `meqsum`: 997 MeQSum-like prompts against `sim_server.py` (128 slots), store off: the
   framework's cost around inference.
2. `rerun`: a 10,000-sample MedNLI rerun answered entirely from the store, half failing, default
   output: the framework's cost with no inference at all.

Each is run once untimed (bytecode, OS caches), then under py-spy (`record --gil --threads`: a
sample counts only while a thread holds the GIL, i.e. runs Python; all threads, so the scheduler
and feeder threads are seen), then under cProfile in every thread, each timed by its own CPU
clock (`_cprofile_pytest.py`: exact call counts, and no charge for waiting on a busy machine). The
summary gives, per function (`file:function`), self and cumulative time in ms in total and per
sample, for all threads together and per thread. py-spy is installed into bench/.venv-lmeval
(the bench's own venv) on first use.

    python bench/profile_suite.py --out /tmp/clue-profile          # both cases, ~5 minutes
    python bench/profile_suite.py --cases meqsum --top 30

Writes `<case>.pyspy.txt` (collapsed stacks), `<case>.cprofile` (pstats) and `<case>.summary.md`
into --out; bench/PROFILE.md is written by hand from these.
"""

from __future__ import annotations

import argparse
import collections
import json
import pstats
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import meqsum_synth
from _harness import add_repo_argument, prepare, suite_env, timed
from bench_rerun_scale import write_mednli
from lmeval_peer import VENV
from sim_server import SimServer

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def ensure_pyspy() -> Path:
    exe = VENV / "bin" / "py-spy"
    if not exe.exists():
        if not (VENV / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "py-spy==0.4.3"],
                       check=True)
    return exe


def frame_key(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m["file"]
    for marker in ("site-packages/", "lib/python3.11/", "/clue_checks/", "/tests_clinical/"):
        if marker in path:
            path = ("clue_checks/" if marker == "/clue_checks/" else "tests_clinical/" if marker == "/tests_clinical/"
                    else "") + path.split(marker, 1)[1]
            break
    return f"{path}:{m['func']}"


# Buckets for "where the CPU goes": the first rule whose pattern is in the stack (or names the thread) wins.
BUCKETS = (
    ("BERTScore availability check: bertscore._scorer imports bert_score (transformers, torch, matplotlib)",
     "clue_checks/metrics/bertscore.py:_scorer"),
    ("ROUGE scorer construction: rouge_score imports nltk (scipy.stats deferred, metrics/nltk_import.py)",
     "clue_checks/metrics/rouge.py:_scorer"),
    ("ROUGE per sample (rouge.rouge_f)", "clue_checks/metrics/rouge.py:rouge_f"),
    ("hypothesis's pytest plugin importing hypothesis at the terminal summary", "_hypothesis_pytestplugin.py:"),
    ("pytest's unraisable-exception gc.collect() at unconfigure", "_pytest/unraisableexception.py:gc_collect_harder"),
    ("pytest's failure sections (summary_failures, quadratic teardown lookup)", "TerminalReporter.summary_failures"),
    ("HTTP client and scheduler (thread clue-scheduler)", "thread=clue-scheduler"),
    ("request feeder (thread clue-feeder)", "thread=clue-feeder"),
    ("store writes / executor threads", "thread=asyncio_N"),
    ("start-up: pytest and plugin imports, option parsing", "Config.pytest_cmdline_parse"),
    ("collection: data loading, test generation", "pytest_collection"),
    ("CLUE report: aggregation and writers (plugin.pytest_sessionfinish)", "clue_checks/plugin.py:pytest_sessionfinish"),
    ("CLUE summary in the terminal", "clue_checks/plugin.py:pytest_terminal_summary"),
    ("the sample fixture: prompt, wait, score (clue_sample)", "clue_checks/plugin.py:clue_sample"),
    ("pytest's per-test protocol (hooks, capture, reports, progress)", "_pytest/runner.py:pytest_runtest_protocol"),
    ("pytest's other terminal output", "_pytest/terminal.py:"),
)


def bucket_of(thread: str, keys: list[str]) -> str:
    joined = ";".join(keys)
    for label, pattern in BUCKETS:
        if pattern.startswith("thread="):
            if thread == pattern[len("thread="):]:
                return label
        elif pattern in joined:
            return label
    return "other (interpreter start, imports elsewhere, shutdown)"


def summarise_pyspy(raw: Path, rate: int, samples: int, top: int, cpu_s: float | None = None) -> str:
    ms = 1000.0 / rate
    self_t: collections.Counter[str] = collections.Counter()
    cum_t: collections.Counter[str] = collections.Counter()
    per_thread: collections.Counter[str] = collections.Counter()
    ours_self: collections.Counter[str] = collections.Counter()
    buckets: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():  # a frame name holding a newline splits its stack over two lines: dropped
            continue
        n = int(count)
        frames = stack.split(";")
        thread = re.sub(r"\s*\(\d+\)", "", frames[0]).replace("thread", "").strip(" :") or "?"
        thread = re.sub(r"_\d+$", "_N", thread)  # executor threads together
        keys = [frame_key(f) for f in frames[1:]]
        if not keys:
            continue
        total += n
        per_thread[thread] += n
        buckets[bucket_of(thread, keys)] += n
        self_t[keys[-1]] += n
        for k in set(keys):
            cum_t[k] += n
        # the innermost frame of our own code: what in clue-checks led to this CPU
        mine = next((k for k in reversed(keys) if k.startswith(("clue_checks/", "tests_clinical/"))), None)
        if mine:
            ours_self[mine] += n
    out = [f"py-spy --gil, {rate} Hz: {total} samples = {total * ms / 1000:.1f} s of Python CPU over all threads, "
           f"{total * ms / samples:.2f} ms per sample ({samples} samples)", "", "Per thread:", "",
           "| thread | s | ms/sample |", "|---|---:|---:|"]
    out += [f"| {t} | {n * ms / 1000:.2f} | {n * ms / samples:.2f} |" for t, n in per_thread.most_common()]
    scale = f"share × the unprofiled run's {cpu_s:.1f} s of CPU" if cpu_s else "py-spy seconds"
    out += ["", f"Where the CPU goes (py-spy samples by stack; ms/sample = {scale}):", "",
            "| where | % | ≈ ms/sample |", "|---|---:|---:|"]
    for label, n in buckets.most_common():
        value = n / total * (cpu_s if cpu_s else total * ms / 1000)
        out.append(f"| {label} | {100 * n / total:.1f} | {1000 * value / samples:.2f} |")
    for title, counter in (("Self time (the function's own code)", self_t),
                           ("Cumulative time (the function and what it calls)", cum_t),
                           ("clue-checks code: time below the innermost clue_checks frame", ours_self)):
        out += ["", f"{title}, top {top}:", "", "| function | s | ms/sample | % |", "|---|---:|---:|---:|"]
        out += [f"| `{k}` | {n * ms / 1000:.2f} | {n * ms / samples:.3f} | {100 * n / total:.1f} |"
                for k, n in counter.most_common(top)]
    return "\n".join(out)


def _short(filename: str, func: str) -> str:
    if filename == "~":
        return func  # a builtin: "{method 'write' of ...}"
    return frame_key(f"{func} ({filename})")


def summarise_cprofile(path: Path, samples: int, top: int) -> str:
    stats = pstats.Stats(str(path)).stats  # {(file, line, func): (cc, nc, tt, ct, callers)}
    threads = json.loads(Path(str(path) + ".threads.json").read_text())
    total = sum(threads.values())
    rows = {}
    for (filename, _line, func), (_cc, nc, tt, ct, _callers) in stats.items():
        key = _short(filename, func)
        old = rows.get(key, (0, 0.0, 0.0))
        rows[key] = (old[0] + nc, old[1] + tt, max(old[2], ct))
    out = [f"cProfile in every thread, each timed by its own CPU clock (time.thread_time): {total:.1f} s of CPU, "
           f"{1000 * total / samples:.2f} ms per sample ({samples} samples; profiling overhead included, so "
           f"call-heavy code looks dearer than it is)", "", "| thread | CPU s | ms/sample |", "|---|---:|---:|"]
    out += [f"| {t} | {v:.2f} | {1000 * v / samples:.2f} |" for t, v in sorted(threads.items(), key=lambda x: -x[1])]

    def table(title: str, items: list[tuple[str, tuple[int, float, float]]]) -> None:
        out.extend(["", title, "", "| function | calls | self s | self ms/sample | cumulative s | cum. ms/sample |",
                    "|---|---:|---:|---:|---:|---:|"])
        for key, (calls, tt, ct) in items:
            out.append(f"| `{key}` | {calls} | {tt:.2f} | {1000 * tt / samples:.3f} | {ct:.2f} "
                       f"| {1000 * ct / samples:.3f} |")

    table(f"By self time, top {top}:", sorted(rows.items(), key=lambda x: -x[1][1])[:top])
    table(f"By cumulative time, top {top}:", sorted(rows.items(), key=lambda x: -x[1][2])[:top])
    ours = [(k, v) for k, v in rows.items() if k.startswith(("clue_checks/", "tests_clinical/"))]
    table(f"clue-checks functions by cumulative time, top {top}:", sorted(ours, key=lambda x: -x[1][2])[:top])
    return "\n".join(out)


def pytest_cmd(python: str, test_file: str, args: list[str]) -> list[str]:
    return [python, "-m", "pytest", test_file, *args]


def profile_case(name: str, cmd_args: list[str], test_file: str, samples: int, a: argparse.Namespace,
                 pyspy: Path) -> None:
    env = suite_env(a.repo)
    out = a.out
    log = out / f"{name}.log"
    warm = timed(pytest_cmd(a.python, test_file, cmd_args), cwd=a.repo, env=env, log=log)
    print(f"{name}: warm-up {warm.wall_s:.1f} s (cpu {warm.cpu_s:.1f} s)", flush=True)
    raw = out / f"{name}.pyspy.txt"
    spy = timed([str(pyspy), "record", "--gil", "--threads", "--rate", str(a.rate), "--format", "raw",
                 "--nonblocking", "-o", str(raw), "--", *pytest_cmd(a.python, test_file, cmd_args)],
                cwd=a.repo, env=env, log=out / f"{name}.pyspy.log")
    print(f"{name}: under py-spy {spy.wall_s:.1f} s", flush=True)
    prof = out / f"{name}.cprofile"
    cpr = timed([a.python, str(Path(__file__).with_name("_cprofile_pytest.py")), str(prof), "--", test_file, *cmd_args],
                cwd=a.repo, env=env, log=out / f"{name}.cprofile.log")
    print(f"{name}: under cProfile {cpr.wall_s:.1f} s", flush=True)
    summary = [f"# {name}: {' '.join(cmd_args)}", "",
               f"Unprofiled warm-up: wall {warm.wall_s:.1f} s, CPU {warm.cpu_s:.1f} s "
               f"({1000 * warm.cpu_s / samples:.2f} ms/sample).", "",
               summarise_pyspy(raw, a.rate, samples, a.top, warm.cpu_s), "", summarise_cprofile(prof, samples, a.top)]
    (out / f"{name}.summary.md").write_text("\n".join(summary) + "\n")
    print(f"{name}: summary in {out / f'{name}.summary.md'}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_repo_argument(parser)
    parser.add_argument("--out", type=Path, required=True, help="folder for the profiles and summaries")
    parser.add_argument("--cases", nargs="+", choices=("meqsum", "rerun"), default=["meqsum", "rerun"])
    parser.add_argument("--rerun-samples", type=int, default=10000)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    a = parser.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    a.out = a.out.resolve()
    prepare(a)
    pyspy = ensure_pyspy()
    with tempfile.TemporaryDirectory(prefix="clue-profile-") as tmp_name:
        tmp = Path(tmp_name)
        if "meqsum" in a.cases:
            meqsum_synth.write(tmp / "meqsum-data", 1000)
            with SimServer(slots=128) as server:
                profile_case("meqsum", [f"--model-endpoint={server.url}", "--clue-tasks=meqsum",
                                        f"--clue-data={tmp / 'meqsum-data'}", "--clue-no-cache",
                                        f"--clue-report-dir={tmp / 'meqsum-report'}", "-q"],
                             "tests_clinical/test_meqsum.py", 997, a, pyspy)
        if "rerun" in a.cases:
            n = a.rerun_samples
            data = write_mednli(tmp / "mednli-data", n)
            with SimServer(slots=512, overflow="queue", step_base=0.0005, step_per_seq=0.0) as server:
                common = [f"--model-endpoint={server.url}", "--clue-tasks=mednli", f"--clue-data={data}",
                          f"--clue-cache={tmp / 'store'}", f"--clue-report-dir={tmp / 'rerun-report'}"]
                fill = timed(pytest_cmd(a.python, "tests_clinical/test_mednli.py", [*common, "-q", "--tb=no", "-rN"]),
                             cwd=a.repo, env=suite_env(a.repo), log=a.out / "rerun-fill.log")
                print(f"rerun: fill {fill.wall_s:.1f} s", flush=True)
                profile_case("rerun", common, "tests_clinical/test_mednli.py", n, a, pyspy)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
