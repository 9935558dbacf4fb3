"""The C allocator's free memory given back to the system now and then during a run (glibc's `malloc_trim`).

A LongHealth sample's prompt, its request body and its token counts are tens of KB each, built and
freed a window of samples ahead, while pytest's reports and the run's records, small and kept to the
end, are allocated between them. glibc's malloc keeps the pages of the freed prompts (a page with one
live small block cannot go back), so the process's resident memory grows with the samples though the
live data does not: 20,100 LongHealth prompts peaked at 573 MiB, 519 MiB with this trim and the records'
shared values; at 5,100, RSS after the last test fell from 313 to 210 MiB (bench/README.md). `malloc_trim(0)` hands
back every whole free page, inside the heap too, not only at its top.
https://man7.org/linux/man-pages/man3/malloc_trim.3.html

Elsewhere (macOS, musl, Windows) there is no such call and nothing is done. Acts only in a session that
asked for CLUE: the sample sessions tick it once per test.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

TRIM_EVERY = 1_000  # tests between two trims: each costs a walk of the heap's free lists (about a millisecond)


def malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the process's C library has none."""
    try:
        return ctypes.CDLL(None).malloc_trim  # the C library the interpreter already uses: nothing is loaded
    except (OSError, AttributeError, TypeError):  # no such symbol (macOS, musl); TypeError: Windows wants a name
        return None


class HeapTrim:
    """Counts finished tests; every `every`-th one, gives the allocator's free pages back."""

    def __init__(self, every: int = TRIM_EVERY, trim: Callable[[int], int] | None = None) -> None:
        self.every = every
        self._trim = trim if trim is not None else malloc_trim()
        self._count = 0
        self.trims = 0

    def tick(self) -> None:
        if self._trim is None:
            return
        self._count += 1
        if self._count % self.every == 0:
            self._trim(0)
            self.trims += 1
