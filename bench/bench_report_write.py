"""The end of a run: the report folder written from spooled LongHealth-like records, CPU seconds.

    python bench/bench_report_write.py                      # this checkout (the one on PYTHONPATH)
    python bench/bench_report_write.py --base ../main       # and another checkout, side by side

What `pytest_sessionfinish` spends writing the folder (`outcome.write_safely`: the prediction files,
clue-report.json and .md, index.html) for N samples whose ~30 KB prompts lie in a spool file, as a run
leaves them. Process CPU time (not wall clock: the machine may be shared), the median of --rounds.
Each checkout is measured in its own process, with that checkout first on the path.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The checkout first on PYTHONPATH is the one measured (each is run in a child process with its own).
from clue_checks.record import SampleRecord
from clue_checks.report.build import RunFacts, build_report
from clue_checks.report.numbers.aggregate import TaskSpec
from clue_checks.report.write.outcome import write_safely
from clue_checks.text_spool import TextSpool

ROOT = Path(__file__).resolve().parent.parent


def _records(n: int, spool_path: Path) -> list[SampleRecord]:
    rng = random.Random(1)
    spool = TextSpool(spool_path)
    system = "[system] You are a highly skilled assistant for discharge letters. " * 25 + "\n[user] \n--BEGIN--\n\n"
    words = "Pathology report temperature 37.2 °C saturation 96% capecitabine letter. \n".split(" ")
    out = []
    for i in range(n):
        doc = " ".join(rng.choice(words) for _ in range(4_000))
        record = SampleRecord(
            "longhealth-t1", f"patient_{i // 30:02d}/q{i % 30:02d}/r0", i, "failed",
            metrics={"accuracy": 0.0, "accuracy_lenient": 0.0, "parsed": 0.0}, source="sent",
            reason="no 'The correct answer is X:' in the answer", response="Without evidence?", reference="E",
            cluster=f"longhealth:patient_{i // 30:02d}", kinds=("format",), finish_reason="stop", tokens_in=7_000,
            tokens_out=8, latency_s=7.458, prompt=system + doc + "\nQuestion: which finding?\nA) x\nB) y",
            node_id=f"tests_clinical/test_clue.py::test_sample[longhealth-t1:{i}]")
        out.append(record.spooled(spool))
    return out


def measure(n: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        facts = RunFacts(run={"model_id": "m"}, manifest={},
                         specs=(TaskSpec("longhealth-t1", "LongHealth task 1", 2, ("accuracy",)),))
        report = build_report(_records(n, Path(tmp) / "main.texts"), facts)
        times = []
        for _ in range(rounds):
            start = time.process_time()
            _, error, problem = write_safely(Path(tmp) / "report", report)
            times.append(time.process_time() - start)
            assert error is None and problem is None, (error, problem)
        size = sum(p.stat().st_size for p in (Path(tmp) / "report").rglob("*") if p.is_file())
    return {"cpu_s": statistics.median(times), "mb": size / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base", help="another checkout to measure the same way")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child: print one result
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.samples, args.rounds)))
        return
    print(f"| checkout | samples | report folder | write_safely CPU s (median of {args.rounds}) | µs per sample |")
    print("|---|---|---|---|---|")
    for repo in [ROOT] + ([Path(args.base).resolve()] if args.base else []):
        env = dict(os.environ, PYTHONPATH=str(repo))
        result = subprocess.run([sys.executable, __file__, "--one", "--samples", str(args.samples), "--rounds",
                                 str(args.rounds)], env=env, capture_output=True, text=True, check=True)
        values = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"| {repo.name} | {args.samples:,} | {values['mb']:.0f} MB | {values['cpu_s']:.3f} | "
              f"{values['cpu_s'] / args.samples * 1e6:.0f} |")


if __name__ == "__main__":
    main()
