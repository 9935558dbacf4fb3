"""LongHealth at full scale: 20 patients × ~5,500 words × 20 questions → 6,000 prompts over tasks 1–3.

What a LongHealth run costs the client besides inference: the documents are read, every prompt is
packed to CLUE's token budget with the served model's tokenizer (the server's `/tokenize`, one
request per text counted), rendered and scored. The questions:

- memory: the pytest process's peak resident set (os.wait4's ru_maxrss) for 6,000 prompts of up
  to 8,140 tokens each, beside that of collecting the same run without running it;
- tokenizing: `/tokenize` requests against the distinct texts asked about (the server records a
  hash of every text it tokenizes), so any text tokenized twice shows;
- wall and CPU of the run.

The data (`longhealth_synth.py`, synthetic, deterministic) is written to a temporary folder; the
real suite runs as a subprocess in one process (no `-n`: as `-n 0`; `tests_clinical/test_longhealth_t{1,2,3}.py`,
`--clue-no-cache`, `-q`)
against the embedded baseline server (`clue_checks.server.BaselineServer`, which has TGI's
`/tokenize` with offsets) on 127.0.0.1 in this process, answering at once.

    python bench/bench_longhealth_scale.py                  # 20 × 20 × 5,500 words: 6,000 prompts (~2 min)
    python bench/bench_longhealth_scale.py --patients 4     # a quick look (1,200 prompts)
    python bench/bench_longhealth_scale.py --patients 67    # 20,100 prompts: is memory flat in the samples? (~10 min)
    python bench/bench_longhealth_scale.py --repo ../other-checkout

Not a test: timing claims live here and in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from _harness import Timed, add_repo_argument, prepare, suite_env, timed
from longhealth_synth import write_longhealth

TASKS = ("longhealth-t1", "longhealth-t2", "longhealth-t3")
FILES = tuple(f"tests_clinical/test_longhealth_t{n}.py" for n in (1, 2, 3))


def suite_cmd(args: argparse.Namespace, url: str, data: Path, report: Path, extra: list[str]) -> list[str]:
    return [args.python, "-m", "pytest", *FILES, f"--model-endpoint={url}", f"--clue-tasks={','.join(TASKS)}",
            f"--clue-data={data}", "--clue-no-cache", f"--clue-report-dir={report}", "-q", "-p", "no:cacheprovider", *extra]


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def sampled(cmd: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> tuple[Timed, list[tuple[float, float, int]]]:
    """`timed`, plus (seconds, resident MiB, percent of tests done) of the child every 0.5 s, from /proc and
    the last `[ NN%]` of pytest's progress in the log."""
    samples: list[tuple[float, float, int]] = []
    stop = threading.Event()
    out = open(log, "w")
    try:
        started_wall, started = time.time(), time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)

        def watch() -> None:
            while not stop.wait(0.5):
                rss = rss_mib(proc.pid)
                if rss is not None:
                    found = re.findall(r"\[\s*(\d+)%\]", log.read_text(errors="replace")[-200:])
                    # After the last test the log's tail is the report summary: progress stays at its last value.
                    last = samples[-1][2] if samples else 0
                    done = max(int(found[-1]), last) if found else last
                    samples.append((time.perf_counter() - started, rss, done))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    finally:
        stop.set()
        out.close()
    return Timed(wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status), started_wall, time.time(),
                 usage.ru_maxrss), samples


def outcome_counts(log: Path) -> dict[str, int]:
    """pytest's final line, e.g. `4800 passed, 1200 failed in 98.1s`, as counts."""
    lines = log.read_text(errors="replace").strip().splitlines()
    tail = next((line for line in reversed(lines) if re.search(r"\d+ (passed|failed|errors?)", line)), "")
    return {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|errors?)", tail)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_repo_argument(parser)
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--words", type=int, default=5500, help="words of documents per patient")
    parser.add_argument("--keep", type=Path, help="keep the data, logs and report in this folder")
    args = parser.parse_args()
    source = prepare(args)
    from clue_checks.server import BaselineServer  # this checkout's server: its /tokenize counts texts

    started = time.time()
    expected = len(TASKS) * 5 * args.patients * args.questions
    with tempfile.TemporaryDirectory(prefix="clue-lhscale-") as tmp_name, BaselineServer(port=0) as server:
        tmp = args.keep or Path(tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        data = tmp / "data"
        path = write_longhealth(data, patients=args.patients, words=args.words, questions=args.questions)
        benchmark = json.loads(path.read_text())
        words = [sum(len(t.split()) for t in p["texts"].values()) for p in benchmark.values()]
        documents = sum(len(p["texts"]) for p in benchmark.values())
        print(f"data: {len(benchmark)} patients, {documents} documents, {min(words)}–{max(words)} words a patient, "
              f"{path.stat().st_size / 1e6:.1f} MB", flush=True)

        collect = timed(suite_cmd(args, server.url, data, tmp / "report-collect", ["--collect-only"]), cwd=args.repo,
                        env=suite_env(args.repo), log=tmp / "collect.log")
        print(f"collect only: {collect.wall_s:.1f} s, peak RSS {collect.max_rss_kib / 1024:.0f} MiB", flush=True)
        server.reset_counts()

        # Unbuffered: pytest's progress reaches the log as it is printed, for the RSS-by-progress table.
        run, rss = sampled(suite_cmd(args, server.url, data, tmp / "report", []), cwd=args.repo,
                           env={**suite_env(args.repo), "PYTHONUNBUFFERED": "1"}, log=tmp / "run.log")
        counts = outcome_counts(tmp / "run.log")
        tokenized = server.tokenize_texts
        generated = server.request_counts
        report_file = tmp / "report" / "clue-report.json"
        requests = json.loads(report_file.read_text()).get("requests", {}) if report_file.exists() else {}
    prompts = sum(counts.values())
    calls, distinct = sum(tokenized.values()), len(tokenized)
    repeated = sorted((n for n in tokenized.values() if n > 1), reverse=True)
    print()
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {platform.node()}, Python {platform.python_version()}, "
          f"clue_checks from {source}; bench took {time.time() - started:.0f} s")
    print()
    print(f"LongHealth tasks 1–3, {args.patients} patients × {args.questions} questions × 5 repeats, "
          f"~{args.words} words a patient, --clue-no-cache, -q, embedded baseline server answering at once")
    print()
    print("| measure | value |")
    print("|---|---:|")
    print(f"| prompts run (expected {expected}) | {prompts} ({', '.join(f'{v} {k}' for k, v in counts.items())}) |")
    print(f"| generation requests received by the server | {generated.get('total', 0)} |")
    print(f"| `/tokenize` requests | {calls} |")
    print(f"| distinct texts tokenized | {distinct} |")
    print(f"| texts tokenized more than once | {len(repeated)} (most: {repeated[0] if repeated else 0}×) |")
    print(f"| wall s | {run.wall_s:.1f} |")
    print(f"| CPU s (pytest process) | {run.cpu_s:.1f} ({1000 * run.cpu_s / max(prompts, 1):.1f} ms/prompt) |")
    print(f"| peak RSS, run | {run.max_rss_kib / 1024:.0f} MiB |")
    print(f"| peak RSS, --collect-only of the same run | {collect.max_rss_kib / 1024:.0f} MiB |")
    print(f"| exit code | {run.returncode} |")
    if requests:
        print(f"\nrequests (report): {json.dumps(requests)}")
    print("\nresident set of the pytest process as the tests progress (after the last test: the report is written)")
    print()
    print("| tests done | RSS MiB (highest so far) |")
    print("|---:|---:|")
    for step in range(10, 101, 10):
        seen = [mib for _, mib, done in rss if done <= step]
        if seen:
            print(f"| {step}% | {max(seen):.0f} |")
    if rss:
        print(f"| and writing the report | {max(m for _, m, _ in rss):.0f} |")
    # Identical prompts (a task 1 question whose documents all fit, shuffled alike) are sent once and shared.
    ok = prompts == expected and generated.get("total", 0) + requests.get("shared", 0) == expected \
        and calls == distinct
    print(f"\n{'OK' if ok else 'NOT AS EXPECTED'}: {prompts} of {expected} prompts; "
          f"{calls} /tokenize requests for {distinct} distinct texts")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
