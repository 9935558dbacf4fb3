"""Concurrency primitives: the in-flight window and batched store calls.

The in-flight window: how many tries may be on the wire at once, found from what the server says.
`Window` decides it from events alone (tries sent, answered, overloaded; the time passed in), so its
behaviour is deterministic and tested without a server; `AdaptiveLimit` applies it to asyncio waiters.

The window keeps a bracket on the server's limit: the largest window that carried a full round of tries
with no overload (`good`), and the smallest one that met an overload (`bad`, the limit is below it).

- An overload (429, 503, a timeout) cuts the window once per round (the tries already on the wire when it
  was cut do not cut it again): back to `good` when that is smaller, else to half (never below 1).
- A full round of answers with the window full raises it: doubling while no overload is known, else
  halfway to `bad`; one below `bad`, the window stays, and probes one more slot after a few rounds (twice
  as many after each failed probe), so a server whose limit rises is followed and one at its limit is
  disturbed rarely.
- A round whose answers take much longer than the smaller window's while adding little throughput is past
  the server's knee (it queues rather than refuses): treated as an overload, without a pause.
- The server's `max_concurrent_requests`, when known, is the start, with `bad` one above it.

A `Retry-After` pauses every new try until then; an overload that repeats with no answer in between and
no other try on the wire pauses them for a growing backoff, so a server that refuses everything is not
hammered while the run decides to stop. Waiters are served in order. Each brings an admission check, asked
again when its turn comes and on `recheck()`: it raises when the try must not go (the run stopped, the
replica left the rotation).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, Literal, TypeVar

from clue_checks.endpoint.retry import RetryPolicy

log = logging.getLogger(__name__)

Signal = Literal["ok", "overload", "failure", "abandoned"]
A = TypeVar("A")
R = TypeVar("R")
Admit = Callable[[], None]

PROBE_AFTER_ROUNDS = 4  # clean rounds one below a known overload before trying one more slot
PROBE_WAIT_MAX_ROUNDS = 64  # the wait doubles after each failed probe, up to this
# A latency knee is judged only across a raise of at least half from a window of at least 8: smaller
# rounds and steps are lost in the spread of answer times (prompts and answers differ in length).
KNEE_MIN_STEP, KNEE_MIN_WINDOW = 1.5, 8
KNEE_GAIN = 0.25  # past the knee: the raise bought less than this share of the throughput it could


def _always() -> None:
    return None


class Window:
    """The in-flight window as a pure function of events: no I/O, and the time is passed in."""

    def __init__(self, start: int, ceiling: int, *, floor: int = 1, known_limit: int | None = None,
                 policy: RetryPolicy = RetryPolicy()) -> None:
        self.floor = max(1, floor)
        self.ceiling = max(self.floor, ceiling)
        self.start = max(self.floor, min(start, self.ceiling))
        self.size = self.start
        self.good = 0  # the largest window that carried a clean full round (0: none yet)
        self.bad: int | None = known_limit + 1 if known_limit and known_limit < self.ceiling else None
        self.epoch = 0  # bumped at each change of the window
        self.decreases = 0
        self.paused_until = 0.0
        self._policy = policy
        self._cut_epoch = 0  # tries sent before the latest cut do not cut again
        self._sizes = {0: self.start}  # the window each epoch's tries were sent under
        self._answers = 0  # clean answers to tries sent under the current window
        self._latency = 0.0  # their summed latency (seconds)
        self._full = False  # the window was full since it last changed: a round proves something
        self._rounds_at_top = 0
        self._probe_wait = PROBE_AFTER_ROUNDS
        self._best: tuple[int, float] | None = None  # (window, answers a second) of the best clean round
        self._overloads_in_row = 0

    def sent(self, in_flight: int) -> int:
        """A try went on the wire, making `in_flight`; returns its ticket (the epoch it was sent in)."""
        if in_flight >= self.size:
            self._full = True
        return self.epoch

    def answered(self, ticket: int, latency: float | None = None) -> str | None:
        """A try was answered; returns what changed, for the log (None: nothing)."""
        self._overloads_in_row = 0
        if ticket != self.epoch:
            return None
        self._answers += 1
        if latency is None:
            self._latency = float("nan")  # a round with an untimed answer says nothing about latency
        else:
            self._latency += latency
        if self._answers < self.size or not self._full:
            return None
        mean = self._latency / self._answers
        return self._round_done(None if mean != mean else mean)

    def overloaded(self, ticket: int, now: float, retry_after: float | None = None, in_flight: int = 0) -> str | None:
        """A try met an overload, leaving `in_flight` tries on the wire; returns what changed, for the log."""
        if retry_after is not None and retry_after > 0:
            self.paused_until = max(self.paused_until, now + min(retry_after, self._policy.max_retry_after))
        if ticket < self._cut_epoch:
            return None
        self._overloads_in_row += 1
        # Refused again with no answer between and nothing on the wire: the server takes nothing, so wait. With
        # tries on the wire the server is busy with them, and the cut alone brings the window down to its limit.
        if self._overloads_in_row >= 2 and not retry_after and in_flight == 0:
            self.paused_until = max(self.paused_until, now + self._policy.backoff(self._overloads_in_row - 1))
        return self._cut(self._sizes.get(ticket, self.size))

    def _cut(self, sent_under: int) -> str:
        self.bad = sent_under if self.bad is None else min(self.bad, sent_under)
        if self.good >= self.bad:  # the server's limit fell below what was good: search afresh
            self.good, self._probe_wait = 0, PROBE_AFTER_ROUNDS
        if sent_under == self.good + 1 and self.good:  # a probe past the good window failed
            self._probe_wait = min(PROBE_WAIT_MAX_ROUNDS, self._probe_wait * 2)
        self.decreases += 1
        if 0 < self.good < self.size:
            return self._resize(self.good, cut=True, how="back to")
        return self._resize(max(self.floor, self.size // 2), cut=True, how="halved to")

    def _round_done(self, mean_latency: float | None) -> str | None:
        size = self.size
        if self._past_knee(mean_latency):
            return f"{self._cut(size)} (answers slowed down with no more of them a second)"
        if self.bad is not None and size >= self.bad:  # a probe held: the server's limit rose
            self.bad = None
            self._probe_wait = PROBE_AFTER_ROUNDS
        self.good = max(self.good, size)
        rate = size / mean_latency if mean_latency else None  # answers a second
        if rate is not None and (self._best is None or rate > self._best[1]):
            self._best = (size, rate)
        self._answers, self._latency, self._full = 0, 0.0, False
        if size >= self.ceiling:
            return None
        if self.bad is None:
            return self._resize(min(self.ceiling, size * 2), cut=False, how="raised to")
        if self.bad - size > 1:
            return self._resize(min(self.ceiling, (size + self.bad) // 2), cut=False, how="raised to")
        self._rounds_at_top += 1
        if self._rounds_at_top < self._probe_wait:
            return None
        return self._resize(size + 1, cut=False, how="probing")

    def _past_knee(self, mean_latency: float | None) -> bool:
        """The raise to this window bought little throughput over the best round: the server queues rather
        than serves more."""
        if mean_latency is None or mean_latency <= 0 or self._best is None or not self.good:
            return False
        best_size, best_rate = self._best
        step = self.size / best_size
        if best_size < KNEE_MIN_WINDOW or step < KNEE_MIN_STEP:
            return False
        return (self.size / mean_latency) / best_rate < 1 + KNEE_GAIN * (step - 1)

    def _resize(self, size: int, *, cut: bool, how: str) -> str:
        self.size = max(self.floor, min(self.ceiling, size))
        self.epoch += 1
        self._sizes[self.epoch] = self.size
        if cut:
            self._cut_epoch = self.epoch
            self._sizes = {e: s for e, s in self._sizes.items() if e >= self._cut_epoch}
        self._answers, self._latency, self._full, self._rounds_at_top = 0, 0.0, False, 0
        return f"{how} {self.size}"


class AdaptiveLimit:
    """An asyncio-only (one event loop) limit on tries in flight, sized by a `Window`."""

    def __init__(self, start: int, ceiling: int, *, policy: RetryPolicy = RetryPolicy(), floor: int = 1,
                 clock: Callable[[], float] = time.monotonic, known_limit: int | None = None) -> None:
        self.window = Window(start, ceiling, floor=floor, known_limit=known_limit, policy=policy)
        self.floor, self.ceiling, self.start = self.window.floor, self.window.ceiling, self.window.start
        self._clock = clock
        self.in_flight = 0
        self.low = self.high = self.start  # the lowest and highest limit reached
        self.peak = 0  # the most tries on the wire at once
        self._sent_at: dict[int, deque[float]] = {}  # per ticket, when its tries went: latency for the window
        self._waiters: deque[tuple[asyncio.Future[int], Admit]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def limit(self) -> int:
        return self.window.size

    @property
    def epoch(self) -> int:
        return self.window.epoch

    @property
    def decreases(self) -> int:
        return self.window.decreases

    def _has_room(self) -> bool:
        return self.in_flight < self.limit and self._clock() >= self.window.paused_until

    def _grant(self) -> int:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        ticket = self.window.sent(self.in_flight)
        self._sent_at.setdefault(ticket, deque()).append(self._clock())
        return ticket

    async def acquire(self, admit: Admit = _always) -> int:
        """Wait for a slot; returns the round (epoch) the try starts in. Raises what `admit` raises."""
        admit()
        if not self._waiters and self._has_room():
            return self._grant()
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        entry = (future, admit)
        self._waiters.append(entry)
        self._schedule()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                self.release(future.result(), "abandoned")  # granted just as we were cancelled
            elif entry in self._waiters:
                self._waiters.remove(entry)
            raise

    def release(self, epoch: int, signal: Signal, retry_after: float | None = None) -> None:
        """A try left the wire: answered (`ok`), refused for load (`overload`), failed otherwise, or abandoned."""
        self.in_flight -= 1
        now, before = self._clock(), self.limit
        sent = self._sent_at.get(epoch)
        latency = now - sent.popleft() if sent else None  # paired oldest first: a round's sum is exact
        if sent is not None and not sent:
            del self._sent_at[epoch]
        change = None
        if signal == "ok":
            change = self.window.answered(epoch, latency)
        elif signal == "overload":
            change = self.window.overloaded(epoch, now, retry_after, self.in_flight)
        if change is not None:
            self.low, self.high = min(self.low, self.limit), max(self.high, self.limit)
            paused = self.window.paused_until - now
            if signal == "overload":
                log.info("server overloaded: concurrency limit %s%s", change,
                         f"; sending paused {paused:.1f} s" if paused > 0 else "")
            else:
                log.log(logging.INFO if self.limit < before else logging.DEBUG, "concurrency limit %s", change)
        self._wake()

    def recheck(self) -> None:
        """Ask every waiter's admission again now (the run stopped, a replica left the rotation)."""
        for entry in list(self._waiters):
            future, admit = entry
            if future.done():
                continue
            try:
                admit()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiter, which raises it
                self._waiters.remove(entry)
                future.set_exception(exc)

    def _wake(self) -> None:
        while self._waiters and self._has_room():
            future, admit = self._waiters.popleft()
            if future.done():
                continue
            try:
                admit()
            except BaseException as exc:  # noqa: BLE001
                future.set_exception(exc)
                continue
            future.set_result(self._grant())
        self._schedule()

    def _schedule(self) -> None:
        """While paused with room, wake the queue when the pause ends."""
        if self._timer is not None or not self._waiters or self.in_flight >= self.limit:
            return
        delay = self.window.paused_until - self._clock()
        if delay > 0:
            def fire() -> None:
                self._timer = None
                self._wake()
            self._timer = asyncio.get_running_loop().call_later(delay, fire)

    def summary(self, source: str) -> dict[str, object]:
        """The effective concurrency, for the report."""
        return {"source": source, "start": self.start, "ceiling": self.ceiling, "min": self.low, "max": self.high,
                "final": self.limit, "peak_in_flight": self.peak, "decreases": self.decreases}


class Batched(Generic[A, R]):
    """Store calls made in one turn of the event loop go together: one thread hop, one transaction.

    Nothing waits for a batch to fill: the calls of one turn are flushed right after it, so an answer
    is still stored the moment it arrives, while a burst of them costs one commit."""

    def __init__(self, loop: asyncio.AbstractEventLoop, run: Callable[[list[A]], list[R]]) -> None:
        self._loop = loop
        self._run = run
        self._pending: list[tuple[A, asyncio.Future[R]]] = []

    async def __call__(self, item: A) -> R:
        future: asyncio.Future[R] = self._loop.create_future()
        self._pending.append((item, future))
        if len(self._pending) == 1:
            self._loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        self._loop.create_task(self._run_batch(batch))

    async def _run_batch(self, batch: list[tuple[A, asyncio.Future[R]]]) -> None:
        try:
            results = await self._loop.run_in_executor(None, self._run, [item for item, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # not swallowed: whatever the batch function raised reaches each waiting caller
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)
