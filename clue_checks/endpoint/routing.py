"""Routing: which replica a request goes to, and whether each try may go at all.

Each try passes the client's gate (`Router.gate`): a slot of the run's in-flight limit
(`concurrency.AdaptiveLimit`), unless the run stopped sending (`breaker`) or the replica left the
rotation. Each try's outcome comes back through the same gate: it adapts the limit, counts towards
taking a failing replica out of rotation (GET /health brings it back), and feeds the breaker.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clue_checks.endpoint.breaker import Breaker
from clue_checks.endpoint.client import ABANDONED, EndpointClient
from clue_checks.endpoint.concurrency import AdaptiveLimit
from clue_checks.endpoint.redact import Redactor, without_userinfo
from clue_checks.endpoint.retry import RetryPolicy
from clue_checks.endpoint.types import Completion, EndpointError, EndpointInfo, EndpointUnavailable, ReplicaDown, Request

log = logging.getLogger(__name__)

# Servers that do not advertise a limit (vLLM, transformers serve) queue requests themselves: start
# with this many in flight and let the limit adapt, up to ADAPTIVE_CEILING (vLLM's default batch size).
DEFAULT_CONCURRENCY = 64
ADAPTIVE_CEILING = 256
# A replica whose tries fail this many times in a row (unreachable, 502-504, timeouts) leaves the rotation.
REPLICA_DOWN_AFTER = 2
REPLICA_FAULTS = frozenset({"connect", "transport", "unavailable", "timeout"})
HEALTH_CHECK_FIRST, HEALTH_CHECK_MAX = 0.5, 10.0  # seconds between a down replica's health checks
OVERLOAD = frozenset({"overloaded", "unavailable", "timeout"})  # what lowers the in-flight limit


@dataclass
class Trace:
    """One request's tries on the wire (a context variable of its task, counted by the gate)."""

    tries: int = 0


_TRACE: contextvars.ContextVar[Trace | None] = contextvars.ContextVar("clue_request_trace", default=None)


def begin_trace() -> Trace:
    """Count the tries of the request the current task is about to make."""
    trace = Trace()
    _TRACE.set(trace)
    return trace


def limit_for(infos: Sequence[EndpointInfo], requested: int | None, share: float,
              policy: RetryPolicy) -> tuple[AdaptiveLimit, str]:
    """--clue-concurrency (starting at the servers' max_concurrent_requests when lower), else that limit, else a
    default that may grow; and where it came from. Under xdist each worker gets its share, so the sum over
    workers stays within the bound."""
    reported = [i.max_concurrent_requests for i in infos]
    known = sum(r for r in reported if r) if all(reported) else None  # the servers' own limit, when all say
    if requested:
        start, ceiling = min(requested, known or requested), requested  # above the server's limit: 429s only
        source = "--clue-concurrency"
    elif known:
        start = ceiling = known
        source = "the server's max_concurrent_requests"
    else:
        start = sum(r or DEFAULT_CONCURRENCY for r in reported)
        ceiling = sum(r or ADAPTIVE_CEILING for r in reported)
        source = "adaptive (the server reports no limit)"
    share_of = lambda n: max(1, int(n * share))  # noqa: E731
    return AdaptiveLimit(share_of(start), share_of(ceiling), policy=policy,
                         known_limit=share_of(known) if known else None), source


@dataclass
class Replica:
    client: EndpointClient
    info: EndpointInfo
    live: bool = True
    outstanding: int = 0
    failures_in_row: int = 0
    taken_out: int = 0


class _ReplicaGate:
    """The client's gate for one replica (see `client.Gate`)."""

    def __init__(self, router: Router, index: int) -> None:
        self._router = router
        self._index = index

    def _replica(self) -> Replica | None:
        replicas = self._router.replicas
        return replicas[self._index] if replicas else None

    async def enter(self) -> int:
        replica, router = self._replica(), self._router
        assert router.limit is not None, "the router has no limit before discovery"
        return await router.limit.acquire(lambda: router.admit(replica))

    def leave(self, ticket: int, failure: Any) -> None:
        self._router.tried(self._replica(), ticket, failure)


class Router:
    """The replicas of one model, the in-flight limit they share, and the run's breaker."""

    def __init__(self, retry: RetryPolicy, redact: Redactor) -> None:
        self.replicas: list[Replica] = []
        self.limit: AdaptiveLimit | None = None
        self.limit_source = ""
        self.breaker = Breaker(retry)
        self.redact = redact
        self.events: list[str] = []  # replicas taken out of rotation and back, for the report
        self.tries = 0  # every try on the wire, retries included
        self.rerouted = 0  # requests sent to another replica after theirs left the rotation
        self.progress_at = time.monotonic()  # when a try last finished, anywhere
        self._lock = threading.Lock()

    def gate(self, index: int) -> _ReplicaGate:
        return _ReplicaGate(self, index)

    def attach(self, clients: Sequence[EndpointClient], infos: Sequence[EndpointInfo], limit: AdaptiveLimit,
               source: str) -> None:
        self.replicas = [Replica(c, i) for c, i in zip(clients, infos)]
        self.limit, self.limit_source = limit, source

    @property
    def broken(self) -> str | None:
        return self.breaker.reason

    async def answer(self, request: Request) -> Completion:
        """Ask a live replica; when it leaves the rotation meanwhile, ask another."""
        last: EndpointError | None = None
        for _ in range(2 * len(self.replicas) + 1):
            replica = self._pick()
            replica.outstanding += 1
            try:
                return await replica.client.complete(request, replica.info)
            except ReplicaDown as exc:
                last = exc
            except EndpointError as exc:
                # Failed for good on a replica that has just been taken out: the others may answer.
                if replica.live or exc.kind not in REPLICA_FAULTS or not any(r.live for r in self.replicas):
                    raise
                last = exc
            finally:
                replica.outstanding -= 1
            with self._lock:
                self.rerouted += 1
        assert last is not None
        raise last.replace(message=f"{last.message}; the replicas kept leaving the rotation", kind="stopped")

    def _pick(self) -> Replica:
        live = [r for r in self.replicas if r.live] or self.replicas
        return min(live, key=lambda r: r.outstanding)

    def gave_up(self, error: EndpointError) -> None:
        """A request failed for good after going to the server: the breaker decides whether to stop."""
        if error.kind != "stopped" and self.breaker.gave_up(error, self.limit.limit if self.limit else 1):
            self._stopped()

    # -- each try, through the gate --------------------------------------------------------------

    def admit(self, replica: Replica | None) -> None:
        """May a try go now? Raises the run's one stop message, or ReplicaDown to reroute."""
        if self.breaker.reason is not None:
            raise EndpointUnavailable(self.breaker.reason, url=replica.info.url if replica else "the endpoint",
                                      kind="stopped")
        if replica is not None and not replica.live:
            raise ReplicaDown("the replica was taken out of rotation", url=replica.info.url, kind="stopped")

    def tried(self, replica: Replica | None, epoch: int, failure: Any) -> None:
        assert self.limit is not None
        if failure is ABANDONED:
            self.limit.release(epoch, "abandoned")
            return
        self.progress_at = time.monotonic()
        trace = _TRACE.get()
        if trace is not None:
            trace.tries += 1
        with self._lock:
            self.tries += 1
        if failure is None:
            self.limit.release(epoch, "ok")
            if replica is not None:
                replica.failures_in_row = 0
        else:
            self.limit.release(epoch, "overload" if failure.kind in OVERLOAD else "failure", failure.retry_after)
            if replica is not None and failure.kind in REPLICA_FAULTS:
                replica.failures_in_row += 1
                if replica.failures_in_row >= REPLICA_DOWN_AFTER:
                    self._take_out(replica, failure)
        # The breaker's message may be printed: no secret, and no server text under --clue-redact.
        if self.breaker.tried(self.redact.error(failure) if failure is not None else None, self.limit.limit):
            self._stopped()

    def _stopped(self) -> None:
        """The run stopped sending: every try waiting for a slot fails now with the one message."""
        if self.limit is not None:
            self.limit.recheck()

    def _take_out(self, replica: Replica, failure: EndpointError) -> None:
        """Out of rotation while another replica lives; GET /health brings it back."""
        if not replica.live or not any(r.live for r in self.replicas if r is not replica):
            return
        replica.live = False
        replica.taken_out += 1
        self.events.append(f"{self.redact(replica.info.url)} taken out of rotation after "
                           f"{replica.failures_in_row} failed tries (last: {failure})")
        log.warning("replica %s taken out of rotation after %d failed tries (last: %s)",
                    without_userinfo(replica.info.url), replica.failures_in_row, without_userinfo(str(self.redact.error(failure))))
        assert self.limit is not None
        self.limit.recheck()
        asyncio.get_running_loop().create_task(self._health_checks(replica))

    async def _health_checks(self, replica: Replica) -> None:
        delay, started = HEALTH_CHECK_FIRST, time.monotonic()
        while not replica.live:
            await asyncio.sleep(delay)
            delay = min(delay * 2, HEALTH_CHECK_MAX)
            if await replica.client.healthy():
                replica.live, replica.failures_in_row = True, 0
                self.events.append(f"{self.redact(replica.info.url)} back in rotation (healthy after "
                                   f"{time.monotonic() - started:.0f} s)")
                log.info("replica %s back in rotation (healthy after %.0f s)", without_userinfo(replica.info.url),
                         time.monotonic() - started)

    def summary(self) -> dict[str, Any]:
        """The effective concurrency, the replicas and what happened to them, for the report."""
        return {
            "concurrency": self.limit.summary(self.limit_source) if self.limit else None,
            "replicas": [{"url": self.redact(r.info.url), "live": r.live, "taken_out": r.taken_out}
                         for r in self.replicas],
            "replica_events": list(self.events),
        }
