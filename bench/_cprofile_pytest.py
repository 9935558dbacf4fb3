"""Run pytest under cProfile in every thread, timing each by its own CPU clock (time.thread_time).

`python -m cProfile` sees only the main thread and times by the wall clock, so on a loaded
machine it charges a function for the time its thread waited for a core. Here each thread gets
its own profiler on its first event (threading.setprofile), timed by that thread's CPU time; at
exit the profiles are merged into one pstats file, and each thread's total is written beside it.

    python bench/_cprofile_pytest.py OUT.pstats -- pytest arguments...
"""

from __future__ import annotations

import cProfile
import json
import sys
import threading
import time

_profiles: list[tuple[str, cProfile.Profile]] = []
_lock = threading.Lock()


def _start_thread_profiler(*_args: object) -> None:
    profile = cProfile.Profile(time.thread_time)
    with _lock:
        _profiles.append((threading.current_thread().name, profile))
    profile.enable()  # replaces this hook as the thread's profile function


class _Snapshot:
    """What pstats.Stats reads from a profile, without disabling it."""

    def __init__(self, stats: dict) -> None:
        self.stats = stats

    def create_stats(self) -> None:
        pass


def main() -> int:
    out = sys.argv[1]
    args = sys.argv[sys.argv.index("--") + 1:]
    import pytest

    threading.setprofile(_start_thread_profiler)
    main_profile = cProfile.Profile(time.thread_time)
    main_profile.enable()
    try:
        code = pytest.main(args)
    finally:
        main_profile.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        merged = __import__("pstats").Stats(main_profile)
        totals = {"MainThread": sum(v[2] for v in merged.stats.values())}
        for name, profile in list(_profiles):
            # Not create_stats(): that would close the calls still open in another thread (an idle
            # executor thread blocked in SimpleQueue.get) with *this* thread's clock.
            profile.snapshot_stats()
            stats = __import__("pstats").Stats(_Snapshot(profile.stats))
            key = name.rstrip("0123456789_") or name
            totals[key] = totals.get(key, 0.0) + sum(v[2] for v in stats.stats.values())
            merged.add(stats)
        merged.dump_stats(out)
        with open(out + ".threads.json", "w") as handle:
            json.dump(totals, handle, indent=1)
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
