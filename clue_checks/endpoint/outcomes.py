"""The futures the scheduler hands out: an outcome (an answer and where it came from), resolved exactly once."""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
from typing import Literal

from clue_checks.endpoint.types import Completion


@dataclass(frozen=True, slots=True)  # one kept per sample for the session: no per-instance dict
class Outcome:
    completion: Completion
    # sent: asked now; store: answered from the store (also when another run sharing it asked);
    # shared: an identical request already submitted in this run
    source: Literal["sent", "store", "shared"]


def settle(future: concurrent.futures.Future[Outcome], *, result: Outcome | None = None,
            error: BaseException | None = None) -> None:
    """Resolve a future once; a second resolution (cancelled meanwhile) is ignored."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]
    except concurrent.futures.InvalidStateError:
        pass


def shared_future(original: concurrent.futures.Future[Outcome] | Outcome) -> concurrent.futures.Future[Outcome]:
    """Another sample with the identical request: the same answer, counted as shared, not as sent.
    `original`: its future, or its answer once answered (the scheduler keeps that alone)."""
    shared: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
    if isinstance(original, Outcome):
        settle(shared, result=Outcome(original.completion, "shared"))
        return shared

    def copy(done: concurrent.futures.Future[Outcome]) -> None:
        if done.cancelled():
            shared.cancel()
        elif done.exception() is not None:
            settle(shared, error=done.exception())
        else:
            # "shared" whether the original was sent or stored, so a rerun counts the same samples as shared.
            settle(shared, result=Outcome(done.result().completion, "shared"))

    original.add_done_callback(copy)
    return shared
