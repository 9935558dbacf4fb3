"""Live progress of a CLUE run: one updating line on a terminal, a line every few seconds in CI.

pytest's dots say how many tests finished; a benchmark run's questions are different: how many
requests are in flight, how fast answers and tokens arrive, how many retries and errors, and when
it will end. Updates come from the main thread only (while a test waits for its answer, and after
each test), so nothing writes to the terminal concurrently with pytest.

Under pytest-xdist each worker sends its scheduler's `progress()` counters (a small JSON dict) with
each sample's test report, and the controller sums the latest of each worker (`RunTotals`) into one line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Snapshot:
    """Counters at one moment. `done`/`total` are samples; the rest are this process's requests."""

    done: int
    total: int
    in_flight: int = 0
    answered: int = 0  # requests answered by the server (not the store)
    from_store: int = 0
    retries: int = 0
    errors: int = 0
    tokens_out: int = 0
    concurrency: int | None = None  # the current in-flight limit, where it adapts


def from_counters(done: int, total: int, counters: Mapping[str, Any]) -> Snapshot:
    """A snapshot from the scheduler's `progress()` counters (`sent`, `failed`, `limit`, ...)."""
    limit = counters.get("limit")
    return Snapshot(done=done, total=total, in_flight=int(counters.get("in_flight") or 0),
                    answered=int(counters.get("sent") or 0), from_store=int(counters.get("from_store") or 0),
                    retries=int(counters.get("retries") or 0), errors=int(counters.get("failed") or 0),
                    tokens_out=int(counters.get("tokens_out") or 0),
                    concurrency=int(limit) if limit is not None else None)


_SUMMED = ("in_flight", "sent", "from_store", "retries", "failed", "tokens_out")


class RunTotals:
    """The run's counters over several processes (xdist workers): the latest counters each process
    sent, summed, and the samples finished so far.

    Each worker's counters are cumulative, so only its latest set counts; a worker that went down has
    nothing in flight any more, and a replacement (a new key) starts from zero beside what the dead
    one had answered. The in-flight limits are summed too: each worker holds its share of the slots.
    """

    def __init__(self) -> None:
        self.done = 0
        self.total = 0
        self._latest: dict[Hashable, dict[str, Any]] = {}

    def update(self, worker: Hashable, counters: Mapping[str, Any]) -> None:
        self._latest[worker] = dict(counters)
        self.total = max(self.total, int(counters.get("total") or 0))  # every worker collects the whole selection

    def sample_finished(self) -> None:
        self.done += 1

    def worker_down(self, worker: Hashable, *, crashed: bool = False) -> None:
        """Nothing is in flight in a worker that ended; a crashed one's slots go to its replacement."""
        if worker in self._latest:
            self._latest[worker] = {**self._latest[worker], "in_flight": 0,
                                    **({"limit": None} if crashed else {})}

    def snapshot(self) -> Snapshot:
        parts = list(self._latest.values())
        summed: dict[str, Any] = {k: sum(int(p.get(k) or 0) for p in parts) for k in _SUMMED}
        limits = [int(p["limit"]) for p in parts if p.get("limit") is not None]
        summed["limit"] = sum(limits) if limits else None
        return from_counters(self.done, self.total, summed)


class Writer(Protocol):
    def rewrite(self, line: str, **markup: bool) -> None: ...
    def write_line(self, line: str, **markup: bool) -> None: ...


def _duration(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_line(snap: Snapshot, elapsed: float) -> str:
    """`clue: 412/997 samples · 128 in flight · 85.2 req/s · 9,800 tok/s · 3 retries · 0 errors · ETA 7s`.

    Rates are over the whole run so far (answers from the store are not inference and are not
    counted in req/s). The ETA extrapolates the sample rate; none is shown before the first sample.
    """
    rate = snap.answered / elapsed if elapsed > 0 else 0.0
    tokens = snap.tokens_out / elapsed if elapsed > 0 else 0.0
    parts = [f"clue: {snap.done}/{snap.total} samples", f"{snap.in_flight} in flight"]
    if snap.concurrency is not None:
        parts[-1] += f" (limit {snap.concurrency})"
    parts += [f"{rate:.1f} req/s", f"{tokens:,.0f} tok/s"]
    if snap.from_store:
        parts.append(f"{snap.from_store} from store")
    parts += [f"{snap.retries} retries", f"{snap.errors} errors"]
    if snap.done >= snap.total:
        parts.append(f"done in {_duration(elapsed)}")
    elif snap.done > 0 and elapsed > 0:
        parts.append(f"ETA {_duration(elapsed / snap.done * (snap.total - snap.done))}")
    else:
        parts.append("ETA —")
    return " · ".join(parts)


CI_INTERVAL_S = 15.0  # without a terminal: seconds between plain lines (--clue-progress-every)


class LiveProgress:
    """Shows `format_line` on a terminal (rewritten at most every `tty_interval` s) or as a plain
    line every `ci_interval` s without one; nothing when quiet."""

    def __init__(self, writer: Writer, snapshot: Callable[[], Snapshot], *, tty: bool, quiet: bool,
                 tty_interval: float = 0.2, ci_interval: float = CI_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._writer = writer
        self._snapshot = snapshot
        self._tty = tty
        self._quiet = quiet
        self._interval = tty_interval if tty else ci_interval
        self._clock = clock
        self._start = clock()
        self._last = self._start
        self._shown = False

    def tick(self) -> None:
        """Called often from the main thread; shows a new line when the interval has passed."""
        if self._quiet:
            return
        now = self._clock()
        if now - self._last < self._interval:
            return
        self._last = now
        self._show(now)

    def show(self) -> None:
        """Draw the line now, whatever the interval (a terminal line that was erased comes back)."""
        if not self._quiet:
            self._last = self._clock()
            self._show(self._last)

    def _show(self, now: float) -> None:
        line = format_line(self._snapshot(), now - self._start)
        if self._tty:
            self._writer.rewrite(line, erase=True)
        else:
            self._writer.write_line(line)
        self._shown = True

    def finish(self) -> None:
        """The last state, on its own line, so the summary that follows starts on a fresh one."""
        if self._quiet or not self._shown:
            return
        now = self._clock()
        line = format_line(self._snapshot(), now - self._start)
        if self._tty:
            self._writer.rewrite(line, erase=True)
            self._writer.write_line("")
        else:
            self._writer.write_line(line)
