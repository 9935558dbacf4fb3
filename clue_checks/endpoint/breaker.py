"""When a run should stop sending: the server failing nearly everything, with one message saying why.

Every try's outcome arrives here once, in the order the tries complete (through the client's gate),
so answers and failures are counted alike whatever the number in flight. Two rules:

- a failure *rate*: of the last `WINDOW` tries, at least `FAILING` of them (90%) met server trouble
  (5xx, 429, timeouts, unreachable) or an unusable answer (not JSON, HTML, SSE, empty, the wrong
  shape), and that has held for at least one request's whole retry budget, so a brief restart is
  ridden out. A server failing 5% or 20% of tries never gets near it (the chance that 36 of 40 tries
  fail at 20% is about 1e-20 per window); at 50% it is about 1e-7 per window, so a run of 20,000
  samples stops that way well under one time in a hundred; at 95% and 100% it stops within a few
  windows. The message says which fraction failed.
- the first requests refused alike (the same 4xx and message) before any answer: a chat template
  without a system role, a wrong model name. Refusals after answers are the samples' own errors.

A refusal (4xx) is the server answering: it counts as no failure in the window.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from clue_checks.endpoint.retry import RetryPolicy
from clue_checks.endpoint.redact import without_userinfo
from clue_checks.endpoint.types import SERVER_TROUBLE, EndpointError

log = logging.getLogger(__name__)


WINDOW = 40  # tries, in completion order
FAILING = 36  # failed tries in the window that stop the run (90%)
SAME_REFUSALS = 5
# What the rate counts as failing: the server in trouble, or an answer nobody can use.
COUNTED = SERVER_TROUBLE | {"malformed"}
STOPPED = "The run stopped sending: no further requests were sent."


def _advice(failure: EndpointError, limit: int) -> str:
    if failure.kind == "overloaded":
        return (f"The server stays overloaded even with the in-flight limit lowered to {limit}: rerun with a lower "
                f"--clue-concurrency (e.g. --clue-concurrency={max(1, limit // 2)}), or raise the server's max_concurrent_requests.")
    if failure.kind == "timeout":
        return "No answers in time: raise --clue-request-timeout if the model needs longer, or check the server."
    if failure.kind in ("connect", "transport"):
        return "Check that the model server is running and reachable."
    if failure.kind == "malformed":
        return ("Check that the URL reaches the model server itself (not a login page or a proxy) "
                "and that it answers JSON.")
    return "Check the server's logs."


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"


def _last(failure: EndpointError) -> str:
    return str(failure.replace(hint=None))  # the advice follows once, in the run's own words


def _what(failure: EndpointError) -> str:
    if failure.kind in ("connect", "transport"):
        return "the endpoint stopped answering"
    if failure.kind == "overloaded":
        return "the server kept answering 429 (overloaded)"
    if failure.kind == "timeout":
        return "the server stopped answering in time"
    if failure.kind == "malformed":
        return "the server kept sending answers that cannot be used"
    return "the server kept failing"


@dataclass
class Breaker:
    policy: RetryPolicy
    clock: Callable[[], float] = time.monotonic
    reason: str | None = None
    answered: int = 0  # tries answered
    failed: int = 0  # tries counted as failing
    _window: deque[bool] = field(default_factory=lambda: deque(maxlen=WINDOW))  # True: failed
    _failing_since: float | None = None
    _same_refusals: int = 0
    _last_refusal: tuple[int | None, str | None] | None = None

    def tried(self, failure: EndpointError | None, limit: int) -> bool:
        """One try's outcome (None: answered), as it completes. True when this try stops the run."""
        failing = failure is not None and failure.kind in COUNTED
        if failure is None:
            self.answered += 1
        elif failing:
            self.failed += 1
        self._window.append(failing)
        bad = sum(self._window)
        if len(self._window) < WINDOW or bad < FAILING:
            self._failing_since = None
            return False
        now = self.clock()
        if self._failing_since is None:
            self._failing_since = now
        lasted = now - self._failing_since
        if not failing or lasted < self.policy.budget_seconds():
            return False
        assert failure is not None
        return self._trip(f"{_what(failure)}: {bad} of the last {WINDOW} tries failed ({bad / WINDOW:.0%}) for at "
                          f"least {_seconds(lasted)}; {self.answered} of {self.answered + self.failed} tries so far "
                          f"were answered (last: {_last(failure)}). {_advice(failure, limit)}")

    def gave_up(self, failure: EndpointError, limit: int) -> bool:
        """A request failed for good (after its tries). True when this stops the run."""
        refusal = (failure.status, failure.server_message) if failure.kind in ("refused", "redirect") else None
        self._same_refusals = self._same_refusals + 1 if refusal and refusal == self._last_refusal else 1
        self._last_refusal = refusal
        if refusal and self.answered == 0 and self._same_refusals >= SAME_REFUSALS:
            return self._trip(f"the server refused the first {self._same_refusals} requests alike and answered "
                              f"none (last: {failure})")
        return False

    def _trip(self, reason: str) -> bool:
        if self.reason is not None:
            return False
        self.reason = f"{reason.rstrip('. ')}. {STOPPED}"
        log.error("sending stopped: %s", without_userinfo(self.reason))
        return True
