"""Wall time for N MedNLI samples against a server with a fixed per-request latency.

Runs the real suite (`pytest tests_clinical/test_mednli.py`) as a user would, against the
embedded baseline server started here with `latency_s` per generation, once at
`--clue-concurrency=1` (how CLUE and lm-eval send requests) and once at the default (the
server's max_concurrent_requests), with the response store off so every request is sent.

    python bench/bench_concurrency.py --samples 200 --latency 0.25

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

from clue_checks.server import BaselineServer

REPO = Path(__file__).resolve().parents[1]
LABELS = ("entailment", "contradiction", "neutral")


def write_mednli(folder: Path, n: int) -> None:
    """n synthetic pairs (+3 shots) in MedNLI's format, built from the bundled fixtures."""
    source = [json.loads(line) for line in (REPO / "clue_checks/fixtures/MedNLI/mli_test_v1.jsonl").read_text().splitlines()
              if line.strip()]
    path = folder / "MedNLI" / "mli_test_v1.jsonl"
    path.parent.mkdir(parents=True)
    with path.open("w") as handle:
        for i in range(n + 3):
            record = dict(source[i % len(source)])
            record["pairID"] = f"bench-{i:05d}"
            record["sentence1"] = f"{record['sentence1']} (case {i})"  # distinct prompts: no dedup
            handle.write(json.dumps(record) + "\n")


def timed_run(url: str, data: Path, report: Path, extra: list[str]) -> float:
    args = [sys.executable, "-m", "pytest", "tests_clinical/test_mednli.py", f"--model-endpoint={url}",
            f"--clue-data={data}", "--clue-tasks=mednli", "--clue-no-cache", f"--clue-report-dir={report}", "-q",
            "-p", "no:cacheprovider", *extra]
    started = time.perf_counter()
    subprocess.run(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - started
    sent = json.loads((report / "clue-report.json").read_text())["requests"]["sent"]
    return elapsed, sent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.25, help="seconds per request at the server")
    parser.add_argument("--max-concurrent", type=int, default=64, help="the server's max_concurrent_requests")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with tempfile.TemporaryDirectory() as tmp, BaselineServer(
        latency_s=args.latency, max_concurrent_requests=args.max_concurrent
    ) as server:
        data = Path(tmp) / "data"
        write_mednli(data, args.samples)
        rows = []
        for label, extra in (("concurrency 1", ["--clue-concurrency=1"]),
                             (f"default ({args.max_concurrent})", []),
                             (f"default, -n 2", ["-n", "2"])):
            elapsed, sent = timed_run(server.url, data, Path(tmp) / label.replace(" ", "_"), extra)
            rows.append((label, elapsed, sent))
    floor = args.samples * args.latency
    print(f"{args.samples} MedNLI samples, {args.latency:.2f} s per request at the server "
          f"(sequential floor {floor:.1f} s)")
    print("| run | wall time (s) | requests sent |")
    print("|---|---:|---:|")
    for label, elapsed, sent in rows:
        print(f"| {label} | {elapsed:.1f} | {sent} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
