"""The share of the test suite's time spent in tests that start a process, from pytest's --report-log.

    python -m pytest tests -p no:cacheprovider -q --report-log=suite.jsonl
    python tools/test_time_shares.py suite.jsonl [more.jsonl ...]

A test counts as starting a process when its report carries the user property `starts_process` (set by
tests/process_starts.py, which counts the interpreter's process-start audit events) or when it is marked
`slow`. Time is a test's setup, call and teardown durations added up; on a shared machine absolute times
vary, shares much less. Several logs (say a `-m slow` run and a `-m "not slow"` run) are read as one suite.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TestTime:
    seconds: float = 0.0
    starts_process: bool = False
    slow: bool = False
    start: float | None = None
    stop: float | None = None
    outcomes: set[str] = field(default_factory=set)


def read_logs(paths: list[Path]) -> dict[str, TestTime]:
    tests: dict[str, TestTime] = defaultdict(TestTime)
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry.get("$report_type") != "TestReport":
                continue
            test = tests[entry["nodeid"]]
            test.seconds += entry.get("duration") or 0.0
            test.slow = test.slow or "slow" in entry.get("keywords", {})
            test.starts_process = test.starts_process or any(name == "starts_process"
                                                             for name, _ in entry.get("user_properties", []))
            if entry.get("start") is not None:
                test.start = min(entry["start"], test.start if test.start is not None else entry["start"])
                test.stop = max(entry["stop"], test.stop if test.stop is not None else entry["stop"])
            test.outcomes.add(entry["outcome"])
    return dict(tests)


def share(part: float, whole: float) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "  n/a"


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def summary(tests: dict[str, TestTime], top: int) -> list[str]:
    total = sum(t.seconds for t in tests.values())
    groups = {
        "start a process (audit event or marked slow)": [n for n, t in tests.items() if t.starts_process or t.slow],
        "marked slow": [n for n, t in tests.items() if t.slow],
        "start a process but are not marked slow": [n for n, t in tests.items() if t.starts_process and not t.slow],
        "run in this process only": [n for n, t in tests.items() if not (t.starts_process or t.slow)],
    }
    lines = [f"{len(tests)} tests, {total:.1f} s of test time (setup + call + teardown)"]
    for label, names in groups.items():
        seconds = sum(tests[n].seconds for n in names)
        lines.append(f"  {len(names):5d} tests ({share(len(names), len(tests))}) {label}: "
                     f"{seconds:8.1f} s = {share(seconds, total)} of the time")
    starts = [t.start for t in tests.values() if t.start is not None]
    stops = [t.stop for t in tests.values() if t.stop is not None]
    if starts and len(tests) == len(starts):
        lines.append(f"first test start to last test end: {max(stops) - min(starts):.1f} s (a single run's wall time)")
    by_file: dict[str, float] = defaultdict(float)
    for name, test in tests.items():
        by_file[file_of(name)] += test.seconds
    lines.append(f"\nthe {top} files with the most test time:")
    for name, seconds in sorted(by_file.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {seconds:8.1f} s {share(seconds, total)}  {name}")
    lines.append(f"\nthe {top} slowest tests (P: starts a process, S: marked slow):")
    for name, test in sorted(tests.items(), key=lambda kv: -kv[1].seconds)[:top]:
        flags = ("P" if test.starts_process else "-") + ("S" if test.slow else "-")
        lines.append(f"  {test.seconds:8.1f} s {flags}  {name}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", type=Path, help="pytest --report-log files (JSON lines)")
    parser.add_argument("--top", type=int, default=15, help="how many files and tests to list (default 15)")
    args = parser.parse_args(argv)
    print("\n".join(summary(read_logs(args.logs), args.top)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
