"""The scheduler's side of the response store: reads that count a bad row as a miss, calls off the event
loop whose failures are recorded (never fatal), and the leases that let runs sharing a cache each ask
for a request once.
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from clue_checks.endpoint.concurrency import Batched
from clue_checks.endpoint.redact import Redactor
from clue_checks.endpoint.store_types import Answer, BadRow, Claim, Lease
from clue_checks.errors import StoreError
from clue_checks.endpoint.types import Completion

T = TypeVar("T")

STORE_MESSAGES_KEPT = 50  # the first store problems are kept word for word; all are counted


class Store(Protocol):
    """What the scheduler needs of a response store (`store.ResponseStore`, `store.NullStore`)."""

    def get(self, key: str) -> Completion | None: ...
    def put_many(self, answers: Sequence[Answer], lease: Lease | None = None) -> None: ...
    def claim_many(self, keys: Sequence[str], lease: Lease, *, since: float = ...) -> list[Claim]: ...
    def peek(self, key: str, lease: Lease, *, since: float = ...) -> Claim | None: ...
    def release(self, key: str, lease: Lease) -> None: ...
    def renew(self, lease: Lease) -> None: ...
    def release_all(self, lease: Lease) -> None: ...
    def close(self) -> None: ...


class StoreSide:
    """The store calls of a `scheduler.Scheduler`, and their counters: `bad_rows`, `store_errors` (the first
    STORE_MESSAGES_KEPT problems, word for word), `store_error_count`, `from_other_runs` (answered by
    another run sharing the cache, while this one waited)."""

    _loop: asyncio.AbstractEventLoop
    _lock: threading.Lock
    _progress_at: float
    redact: Redactor

    def _init_store(self, store: Store, *, refresh: bool) -> None:
        self._store = store
        self._refresh = refresh
        self._lease = Lease.mine()
        self._started_wall = time.time()
        # Under --clue-refresh, only answers stored while this run runs (by another run sharing the cache) count.
        since = self._started_wall if refresh else -math.inf
        self._claim = Batched(self._loop, lambda keys: store.claim_many(keys, self._lease, since=since))
        self._put = Batched(self._loop, lambda answers: [store.put_many(answers, self._lease)] * len(answers))
        self.from_other_runs = 0
        self.bad_rows = 0
        self.store_errors: list[str] = []
        self.store_error_count = 0

    async def _renew_leases(self) -> None:
        """Keep this run's leases alive while it runs (another run takes over a lease that lapses)."""
        period = max(1.0, getattr(self._store, "lease_seconds", 60.0) / 4)
        while True:
            await asyncio.sleep(period)
            await self._store_call("renewing leases", None, self._in_thread(self._store.renew, self._lease))

    def _read(self, key: str) -> Completion | None:
        """The stored answer; a row or store that cannot be read is a miss, counted and reported."""
        try:
            return self._store.get(key)
        except BadRow as exc:
            with self._lock:
                self.bad_rows += 1
            self._store_problem(str(exc))
        except Exception as exc:  # StoreError, or anything else a store may raise
            self._store_problem(str(exc) if isinstance(exc, StoreError) else f"reading the store: {exc!r}")
        return None

    def _store_problem(self, message: str) -> None:
        with self._lock:
            self.store_error_count += 1
            if len(self.store_errors) < STORE_MESSAGES_KEPT:
                self.store_errors.append(self.redact(message))

    async def _store_call(self, doing: str, key: str | None, work: Awaitable[T]) -> T | None:
        """Await a store call; a failure is recorded (never silent, never fatal) and None returned."""
        try:
            return await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # StoreError, or sqlite's own: a store failure is never fatal to the run
            about = f" (request {key[:12]})" if key else ""
            self._store_problem(str(exc) if isinstance(exc, StoreError) else f"{doing}{about}: {exc!r}")
            return None

    def _in_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Awaitable[T]:
        """A store call off the event loop (SQLite may wait for another process's lock)."""
        return self._loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))

    async def _wait_for_other_run(self, key: str) -> Claim | None:
        """Another run sharing the cache is asking for this key: wait for its answer, or take over its
        lease when it dies or lets it lapse. Bounded: a live owner renews, a dead one is noticed."""
        since = self._started_wall if self._refresh else -math.inf
        delay = 0.05
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 1.0)
            peek = await self._store_call("reading the lease", key,
                                          self._in_thread(self._store.peek, key, self._lease, since=since))
            if peek is None:  # free (or the store failed us): take it, or wait on the next holder
                claim = await self._store_call("taking the lease", key, self._claim(key))
                if claim is None or claim.holder is None:
                    if claim is not None and claim.completion is not None:
                        with self._lock:
                            self.from_other_runs += 1
                    return claim
                continue
            if peek.completion is not None:
                with self._lock:
                    self.from_other_runs += 1
                return peek
            self._progress_at = time.monotonic()  # the holder is alive and working on it

    def _store_summary(self) -> dict[str, Any]:
        """The store's part of the scheduler's stats (call with the lock held)."""
        return {"path": str(getattr(self._store, "path", None) or "") or None,
                "bad_rows": self.bad_rows, "errors": self.store_error_count,
                "messages": list(self.store_errors),
                "notes": [self.redact(n) for n in getattr(self._store, "notes", ())]}
