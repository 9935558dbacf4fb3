"""How a CLUE session uses CPython's cyclic garbage collector: less often during the run, not at all at exit.

During the run. A run keeps thousands of long-lived objects (pytest's items and reports, the records)
while requests, responses and futures pass through by the hundred. With the default thresholds
(700, 10, 10) the youngest generation is collected every 700 allocations, so objects still in flight
are promoted and then die in the oldest generation, whose full collections walk the whole heap: a
10,000-sample first run spent 10.8 of its 52.0 s collecting (26 full collections), 3.7 of 42.8 s with the
first threshold at 50,000 (bench/README.md, measured with bench/gc_probe.py). The thresholds are restored when the session ends.
https://docs.python.org/3/library/gc.html#gc.set_threshold

At exit. CPython's finalisation runs the collector over every object still alive: pytest, numpy,
nltk and scipy (imported by rouge-score), the run's records. After the report is written that pass
only frees memory the operating system reclaims anyway: 0.6 s between the last line printed and the
shell prompt on a 997-sample run, 0.05 s with `gc.freeze()` as the last atexit step. Objects are
still released by reference counting; only reference cycles alive at exit are left to the OS, and
CPython does not promise to finalise those either.
https://docs.python.org/3/library/gc.html#gc.freeze

Both act only in a session that asked for CLUE.
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Callable

RUN_THRESHOLD0 = 50_000  # allocations between young collections (CPython's default: 700)

_exit_registered = False


def tune_for_run() -> Callable[[], None]:
    """Raise the young generation's threshold; return what restores the thresholds found."""
    found = gc.get_threshold()
    gc.set_threshold(max(found[0], RUN_THRESHOLD0), *found[1:])

    def restore() -> None:
        gc.set_threshold(*found)

    return restore


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
