"""The framework's own cost at the scale of the real benchmark: N samples against a server that answers at once.

Runs the real suite (`tests_clinical/test_mednli.py`) against the embedded baseline with no added
latency, so the wall time is what clue-checks itself costs (pytest, prompt rendering, scheduling,
the store, scoring, the report) plus the baseline's cheap heuristics:

- first run: every request sent and stored;
- rerun: the same suite again, every answer from the store (what `--lf` and a resumed run pay);
- first run with `-n 2`, into a fresh store.

    python bench/bench_scale.py --samples 3000

Not a test: timing claims live here and in the README, never in timed unit tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_concurrency import REPO, write_mednli

from clue_checks.server import BaselineServer


def timed_run(url: str, data: Path, cache: Path, report: Path, extra: list[str]) -> tuple[float, dict[str, int]]:
    args = [sys.executable, "-m", "pytest", "tests_clinical/test_mednli.py", f"--model-endpoint={url}",
            f"--clue-data={data}", "--tasks=mednli", f"--cache={cache}", f"--report-dir={report}", "-q",
            "--tb=no", "-rN", "-p", "no:cacheprovider", *extra]
    started = time.perf_counter()
    subprocess.run(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - started
    return elapsed, json.loads((report / "clue-report.json").read_text())["requests"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3000)
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with tempfile.TemporaryDirectory() as tmp, BaselineServer(latency_s=0.0) as server:
        root = Path(tmp)
        write_mednli(root / "data", args.samples)
        rows = []
        for label, cache, extra in (("first run", "c1", []), ("rerun (all from the store)", "c1", []),
                                    ("first run, -n 2", "c2", ["-n", "2"])):
            elapsed, requests = timed_run(server.url, root / "data", root / cache, root / label.replace(" ", "_"),
                                          extra)
            rows.append((label, elapsed, requests))
    print(f"{args.samples} MedNLI samples, server answering at once")
    print("| run | wall time (s) | ms per sample | sent | from store |")
    print("|---|---:|---:|---:|---:|")
    for label, elapsed, requests in rows:
        print(f"| {label} | {elapsed:.1f} | {1000 * elapsed / args.samples:.1f} | {requests['sent']} "
              f"| {requests['from_store']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
