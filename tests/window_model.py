"""A virtual-time model of a server with a slot limit and a client sized by `concurrency.Window`.

Deterministic: no wall clock, no randomness. The server answers a try within its slot limit after a
service time (which varies by request, as generated lengths do), and refuses one above it at once (TGI's 429);
a refused request is tried again after a fixed backoff. `slots` may change with the virtual time.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by bench/bench_aimd.py into checkouts whose concurrency module has no Window
    from clue_checks.endpoint.concurrency import AdaptiveLimit, Window

REFUSAL_S = 0.001  # a 429 comes back at once
BACKOFF_S = 0.25


def service_time(request: int) -> float:
    """0.2-0.5 s, spread over requests like generated lengths."""
    return 0.2 + (request * 7919 % 31) / 100


@dataclass
class Trace:
    sizes: list[int] = field(default_factory=list)  # the window after each event
    times: list[float] = field(default_factory=list)  # the virtual time of each event
    busy_slot_seconds: float = 0.0  # the server's in-flight tries integrated over time
    refusals: int = 0
    finished_at: float = 0.0


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def simulate(window: Window, requests: int, slots: Callable[[float], int], clock: Clock | None = None) -> Trace:
    """Send `requests` requests through `window` to the modelled server; each is answered once.

    `window` may be anything with Window's `size`, `paused_until`, `sent`, `answered` and `overloaded`;
    `clock`, when given, is kept at the virtual time."""
    clock = clock or Clock()
    pending = deque(range(requests))
    events: list[tuple[float, int, str, int, int, float]] = []  # (time, order, kind, request, ticket, sent)
    now, order, client, server, answered = 0.0, 0, 0, 0, 0
    trace = Trace()
    while answered < requests:
        while pending and client < window.size and now >= window.paused_until:
            request = pending.popleft()
            client += 1
            ticket = window.sent(client)
            accepted = server < slots(now)
            server += accepted
            delay = service_time(request) if accepted else REFUSAL_S
            heapq.heappush(events, (now + delay, order, "ok" if accepted else "429", request, ticket, now))
            order += 1
        if pending and client < window.size and not events:
            heapq.heappush(events, (window.paused_until, order, "wake", -1, -1, now))
            order += 1
        at, _, kind, request, ticket, sent = heapq.heappop(events)
        trace.busy_slot_seconds += server * (at - now)
        now = clock.now = at
        if kind == "ok":
            client, server, answered = client - 1, server - 1, answered + 1
            window.answered(ticket, now - sent)
        elif kind == "429":
            client -= 1
            trace.refusals += 1
            window.overloaded(ticket, now)
            heapq.heappush(events, (now + BACKOFF_S, order, "retry", request, -1, now))
            order += 1
        elif kind == "retry":
            pending.append(request)
        trace.sizes.append(window.size)
        trace.times.append(now)
    trace.finished_at = now
    return trace


class LimitModel:
    """An `AdaptiveLimit` (of whichever checkout is imported) shaped as `window_model` drives a window."""

    def __init__(self, limit: AdaptiveLimit, clock: Clock) -> None:
        self.limit = limit
        limit._wake = lambda: None  # no event loop: the model grants and releases tries itself
        limit._clock = clock  # the virtual time

    @property
    def size(self) -> int:
        return self.limit.limit

    @property
    def paused_until(self) -> float:
        window = getattr(self.limit, "window", None)  # an older AdaptiveLimit kept its own pause
        return window.paused_until if window is not None else self.limit._paused_until

    def sent(self, in_flight: int) -> int:
        return self.limit._grant()

    def answered(self, ticket: int, latency: float) -> None:
        self.limit.release(ticket, "ok")

    def overloaded(self, ticket: int, now: float) -> None:
        self.limit.release(ticket, "overload")


def time_at(trace: Trace, size: int, since: float = 0.0) -> float:
    """The share of the virtual time after `since` the window spent at `size`."""
    spent = 0.0
    for i in range(1, len(trace.times)):
        start, end = max(since, trace.times[i - 1]), trace.times[i]
        if end > start and trace.sizes[i - 1] == size:
            spent += end - start
    return spent / (trace.finished_at - since)
