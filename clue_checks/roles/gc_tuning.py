"""How a CLUE session uses CPython's cyclic garbage collector: less often, over less, not at all at exit.

During the run. A run keeps thousands of long-lived objects (pytest's items and reports, the records)
while requests, responses and futures pass through by the hundred. With the default thresholds
(700, 10, 10) the youngest generation is collected every 700 allocations, so objects still in flight
are promoted and then die in the oldest generation, whose full collections walk the whole heap: a
10,000-sample first run spent 10.8 of its 52.0 s collecting (26 full collections), 3.7 of 42.8 s with the
first threshold at 50,000 (bench/README.md, measured with bench/gc_probe.py).
https://docs.python.org/3/library/gc.html#gc.set_threshold

Over less. Most of the heap is what imports made: pytest, numpy, and what a task's scoring loads on its
first sample (rouge-score brings nltk and scipy, 75,000 objects). It lives until the process ends, yet
every full collection walks it again, pytest's two at the session's end included (0.12 s each after a
997-sample MeQSum run). Once a task has scored its first sample in this process, `gc.freeze()` moves
what exists then out of the collector's reach. Objects are still released by reference counting; a
reference cycle among the frozen objects that becomes garbage waits for the end of the session.
https://docs.python.org/3/library/gc.html#gc.freeze

The thresholds are restored and the frozen objects handed back (`gc.unfreeze()`) when the session
ends, after pytest's last collection: the session's cleanup is registered before pytest's own
unraisable-exception cleanup, and cleanups run last-in, first-out. A process that froze objects
itself before the session is left to its own freezing.

At exit. CPython's finalisation runs the collector over every object still alive: pytest, numpy,
nltk and scipy, the run's records. After the report is written that pass only frees memory the
operating system reclaims anyway: 0.6 s between the last line printed and the shell prompt on a
997-sample run, 0.05 s with `gc.freeze()` as the last atexit step. Only reference cycles alive at exit
are left to the OS, and CPython does not promise to finalise those either.

All of it acts only in a session that asked for CLUE.
"""

from __future__ import annotations

import atexit
import gc

RUN_THRESHOLD0 = 50_000  # allocations between young collections (CPython's default: 700)

_exit_registered = False


class RunCollector:
    """The collector's settings for one CLUE session: raised on creation, put back by `restore`."""

    def __init__(self) -> None:
        self._found = gc.get_threshold()
        self._may_freeze = gc.get_freeze_count() == 0  # someone froze objects before us: theirs to manage
        self._froze = False
        gc.set_threshold(max(self._found[0], RUN_THRESHOLD0), *self._found[1:])

    def freeze_long_lived(self) -> None:
        """Leave every object alive now out of later collections (call once a task's imports are done)."""
        if self._may_freeze:
            gc.freeze()
            self._froze = True

    def restore(self) -> None:
        gc.set_threshold(*self._found)
        if self._froze:
            gc.unfreeze()
            self._froze = False


def freeze_heap_at_exit() -> None:
    """Once per process."""
    global _exit_registered
    if not _exit_registered:
        _exit_registered = True
        atexit.register(_freeze)


def _freeze() -> None:
    # Garbage made by the atexit steps that ran before this one is still collected normally: it is
    # not frozen. Handlers registered before this one (atexit runs last-in, first-out) run after it.
    gc.freeze()
