"""Retry policy: which failed tries are tried again, after how long, and the message when we give up.

Exponential backoff with jitter for transient failures; a server's `Retry-After` is a floor. Failures
arrive classified (`EndpointError.kind`), so this module decides on kinds, not on messages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from clue_checks.endpoint.types import EndpointError

# A garbled 200 is usually a proxy glitch; twice is a broken server.
MALFORMED_RETRIES = 1
# A timeout means the server took the request and is still busy with it: resending it adds to the
# load that caused the timeout, and each try costs the whole --clue-request-timeout. Once more, then final.
TIMEOUT_RETRIES = 1
# A 429 is the server saying "not now" without doing any work: under a concurrency limit that adapts
# (scheduler), a request may meet several before its turn comes, so it gets this many times the tries.
OVERLOAD_ATTEMPTS_FACTOR = 4

_CAPPED = {"malformed": MALFORMED_RETRIES, "timeout": TIMEOUT_RETRIES}


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for transient failures (429, 502-504, connection errors, timeouts)."""

    max_attempts: int = 6  # total tries per request (429s: OVERLOAD_ATTEMPTS_FACTOR times as many)
    base_delay: float = 0.5  # seconds before the second try, doubled each time
    max_delay: float = 30.0
    jitter: float = 0.5  # the delay is drawn from [backoff * (1 - jitter), backoff]

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("RetryPolicy delays must be non-negative")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("RetryPolicy.jitter must be between 0 and 1")

    def backoff(self, attempt: int) -> float:
        """Delay before jitter after `attempt` (1-based) failed tries: base * 2**(attempt-1), capped."""
        exponent = min(max(attempt - 1, 0), 60)  # no float overflow however many attempts
        return min(self.max_delay, self.base_delay * 2.0**exponent)

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after `attempt` failed tries; a server's Retry-After is a floor (capped)."""
        wait = self.backoff(attempt) * (1.0 - self.jitter * rng.random())
        if retry_after is not None:
            wait = max(wait, min(max(retry_after, 0.0), self.max_retry_after))
        return wait

    @property
    def max_retry_after(self) -> float:
        """The longest Retry-After we honour: a server asking for an hour gets the run stopped instead."""
        return self.max_delay * 4

    def budget_seconds(self) -> float:
        """The longest a request can spend sleeping between its tries (without Retry-After)."""
        return sum(self.backoff(a) for a in range(1, self.max_attempts))


@dataclass
class Attempts:
    """One request's tries so far, and whether the last failure may be tried again."""

    policy: RetryPolicy
    rng: random.Random
    made: int = 0
    _by_kind: dict[str, int] = field(default_factory=dict)

    def after(self, failure: EndpointError) -> float | None:
        """Seconds to wait before trying again, or None when `failure` is final.

        A failure that may not be tried again is marked `retryable = False`, so callers can tell a
        final timeout (a slow server) from a final connection failure (a dead one)."""
        self.made += 1
        if not failure.retryable:
            return None
        kind = failure.kind or "other"
        self._by_kind[kind] = self._by_kind.get(kind, 0) + 1
        cap = _CAPPED.get(kind)
        if cap is not None and self._by_kind[kind] > cap:
            failure.retryable = False
            return None
        budget = self.policy.max_attempts * (OVERLOAD_ATTEMPTS_FACTOR if kind == "overloaded" else 1)
        if self.made >= budget:
            return None
        return self.policy.delay(self.made, failure.retry_after, self.rng)

    def gave_up(self, path: str, last: EndpointError) -> EndpointError:
        """The final error: how many tries it took and the last cause, with the last failure's details."""
        cause = last.message or "unknown error"
        if last.status is not None and not cause.startswith("malformed"):
            cause = "the server answered"  # __str__ appends "HTTP <status> from <url>: <message>"
        plural = "attempt" if self.made == 1 else "attempts"
        return last.replace(message=f"POST {path} failed after {self.made} {plural}; last cause: {cause}")
