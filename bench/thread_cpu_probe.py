"""A pytest plugin that reports each thread's CPU time and the process's CPU at pytest's phases.

    PYTHONPATH=$PWD:$PWD/bench python -m pytest tests_clinical/test_meqsum.py -p thread_cpu_probe \
        --model-endpoint=URL ...

Each thread's user+system CPU is read from /proc/self/task/<tid>/stat (Linux) every 50 ms by a
thread of its own (so threads that end before the process are counted too), and named through
threading's native ids. At exit it prints to stderr one `THREAD_CPU` line (seconds per thread name)
and one `PHASES` line: the process's CPU and wall time when the plugin loaded, when collection
finished, at the first test's setup, when the last test finished, at the end of the last
sessionfinish and unconfigure hooks, and at exit. The probe's own thread is listed as `probe`.
Not loaded by anything in the package: a measuring tool for bench/README.md and bench/PROFILE.md.
"""

from __future__ import annotations

import atexit
import os
import resource
import sys
import threading
import time

import pytest

_TICK = os.sysconf("SC_CLK_TCK")
_START = time.perf_counter()
_seen: dict[str, tuple[str, float]] = {}  # tid -> (thread name, CPU seconds)
_marks: list[tuple[str, float, float]] = []


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _mark(label: str) -> None:
    _marks.append((label, _cpu(), time.perf_counter() - _START))


def _sample() -> None:
    names = {t.native_id: t.name for t in threading.enumerate()}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as handle:
                stat = handle.read()
        except OSError:  # the thread ended meanwhile: its last reading stays
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after the command name, which may hold spaces
        name = names.get(int(tid), _seen.get(tid, ("?", 0.0))[0])
        _seen[tid] = (name, (int(fields[11]) + int(fields[12])) / _TICK)  # utime, stime


def _watch() -> None:
    while True:
        _sample()
        time.sleep(0.05)


threading.Thread(target=_watch, name="probe", daemon=True).start()
_mark("plugin loaded")
_last_test = [0.0, 0.0]
_first_setup = [True]


def pytest_collection_finish(session: pytest.Session) -> None:
    _mark("collected")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if _first_setup[0]:
        _first_setup[0] = False
        _mark("first test setup")


def pytest_runtest_logfinish(nodeid: str, location: object) -> None:
    _last_test[:] = [_cpu(), time.perf_counter() - _START]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    _marks.append(("last test finished", *_last_test))
    _mark("sessionfinish done")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    _mark("unconfigure done")


@atexit.register
def _report() -> None:
    _mark("exit")
    _sample()
    per_name: dict[str, float] = {}
    for name, seconds in _seen.values():
        per_name[name] = per_name.get(name, 0.0) + seconds
    print("THREAD_CPU", {name: round(s, 2) for name, s in sorted(per_name.items(), key=lambda kv: -kv[1])},
          file=sys.__stderr__)
    print("PHASES (label, CPU s, wall s)", [(label, round(c, 3), round(w, 3)) for label, c, w in _marks],
          file=sys.__stderr__)
