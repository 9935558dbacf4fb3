"""Concurrency primitives: the in-flight limit (AIMD) and batched store calls.

The in-flight limit: how many tries may be on the wire at once, adapted to what the server says.

AIMD, as TCP does with its window: each answered try raises the limit by 1/limit (about one more slot
per round of answers), up to the ceiling (--clue-concurrency, or the server's `max_concurrent_requests`);
a 429, 503 or timeout halves it (never below 1), once per round: the tries that were already on the
wire when it was halved do not halve it again. A `Retry-After` pauses every new try until then; an
overload that repeats with no answer in between pauses them for a growing backoff, so a server that
refuses everything is not hammered while the run decides to stop.

Waiters are served in order. Each brings an admission check, asked again when its turn comes and on
`recheck()`: it raises when the try must not go (the run stopped, the replica left the rotation).
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


def _always() -> None:
    return None


class AdaptiveLimit:
    """An asyncio-only (one event loop) AIMD limit on tries in flight."""

    def __init__(self, start: int, ceiling: int, *, policy: RetryPolicy = RetryPolicy(), floor: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.floor = max(1, floor)
        self.ceiling = max(self.floor, ceiling)
        self.start = max(self.floor, min(start, self.ceiling))
        self._limit = float(self.start)
        self._policy = policy
        self._clock = clock
        self.in_flight = 0
        self.epoch = 0  # bumped at each decrease: a round of tries
        self.low = self.high = self.start  # the lowest and highest limit reached
        self.peak = 0  # the most tries on the wire at once
        self.decreases = 0
        self._paused_until = 0.0
        self._overload_rounds = 0  # decreases in a row with no answer between them
        self._waiters: deque[tuple[asyncio.Future[int], Admit]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def limit(self) -> int:
        return max(self.floor, int(self._limit))

    def _has_room(self) -> bool:
        return self.in_flight < self.limit and self._clock() >= self._paused_until

    def _grant(self) -> int:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        return self.epoch

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
        now = self._clock()
        if signal == "ok":
            self._overload_rounds = 0
            if self._limit < self.ceiling:
                before = self.limit
                self._limit = min(float(self.ceiling), self._limit + 1.0 / self._limit)
                self.high = max(self.high, self.limit)
                if self.limit != before:
                    log.debug("concurrency limit raised to %d (answers keep coming)", self.limit)
        elif signal == "overload":
            if retry_after is not None and retry_after > 0:
                self._paused_until = max(self._paused_until, now + min(retry_after, self._policy.max_retry_after))
            if epoch == self.epoch:  # the first overload of this round: halve once
                self.epoch += 1
                self.decreases += 1
                self._overload_rounds += 1
                self._limit = max(float(self.floor), self._limit / 2.0)
                self.low = min(self.low, self.limit)
                if self._overload_rounds >= 2 and not retry_after:
                    self._paused_until = max(self._paused_until,
                                             now + self._policy.backoff(self._overload_rounds - 1))
                log.info("server overloaded: concurrency limit halved to %d%s", self.limit,
                         f"; sending paused {self._paused_until - now:.1f} s" if self._paused_until > now else "")
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
        delay = self._paused_until - self._clock()
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
