"""When a run should stop sending: the server failing everything in a row, with one message saying why.

Three rules, each bounded, each reset by an answer:
- tries in a row that met server trouble (5xx, 429, timeouts, unreachable) reach three requests'
  worth of tries and have lasted at least one request's whole retry budget: the server is not coming
  back within a request's patience, whatever came before;
- requests in a row that failed for good for such a cause (after all their tries);
- the first requests refused alike (the same 4xx and message) before any answer: a chat template
  without a system role, a wrong model name. Refusals after answers are the samples' own errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .retry import RetryPolicy
from .types import SERVER_TROUBLE, EndpointError

FINAL_FAILURES = 5
SAME_REFUSALS = 5
STOPPED = "The run stopped sending: no further requests were sent."


def _advice(failure: EndpointError, limit: int) -> str:
    if failure.kind == "overloaded":
        return (f"The server stays overloaded even with the in-flight limit lowered to {limit}: rerun with a lower "
                f"--clue-concurrency (e.g. --clue-concurrency={max(1, limit // 2)}), or raise the server's max_concurrent_requests.")
    if failure.kind == "timeout":
        return "No answers in time: raise --clue-request-timeout if the model needs longer, or check the server."
    if failure.kind in ("connect", "transport"):
        return "Check that the model server is running and reachable."
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
    return "the server kept failing"


@dataclass
class Breaker:
    policy: RetryPolicy
    clock: Callable[[], float] = time.monotonic
    reason: str | None = None
    answered: int = 0
    _streak: int = 0
    _streak_since: float | None = None
    _finals: int = 0
    _same_refusals: int = 0
    _last_refusal: tuple[int | None, str | None] | None = None

    @property
    def streak_threshold(self) -> int:
        return 3 * self.policy.max_attempts

    def tried(self, failure: EndpointError | None, limit: int) -> bool:
        """One try's outcome (None: answered). True when this try stops the run."""
        if failure is None or failure.kind not in SERVER_TROUBLE:
            if failure is None:
                self.answered += 1
                self._finals = 0
            self._streak, self._streak_since = 0, None  # the server answered, even if it refused
            return False
        now = self.clock()
        if self._streak_since is None:
            self._streak_since = now
        self._streak += 1
        lasted = now - self._streak_since
        if self._streak >= self.streak_threshold and lasted >= self.policy.budget_seconds():
            return self._trip(f"{_what(failure)}: {self._streak} tries in a row over {_seconds(lasted)} got no answer "
                              f"(last: {_last(failure)}). {_advice(failure, limit)}")
        return False

    def gave_up(self, failure: EndpointError, limit: int) -> bool:
        """A request failed for good (after its tries). True when this stops the run."""
        if failure.kind in SERVER_TROUBLE:
            self._finals += 1
            if self._finals >= FINAL_FAILURES:
                return self._trip(f"{_what(failure)}: {self._finals} requests in a row failed after their retries "
                                  f"(last: {_last(failure)}). {_advice(failure, limit)}")
            return False
        self._finals = 0  # the server answered this one, if only to refuse it
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
        return True
