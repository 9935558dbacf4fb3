"""The feeder's renderings, kept for the samples' own tests, so a sample's prompt is rendered once.

The feeder (runner.py) renders each sample to submit its request ahead of its test; the test needs the
same prompt and request again (the record, the failure message). A rendering is kept while its request
is in flight (dropped if answered before its test comes: a fast server would otherwise have the feeder keep
thousands), and, when the request was answered at once (from the store), until its test takes it: then
at most `room` of them, the feeder waiting for tests to take half before it renders more. A feeder that
waits long (tests slow, or not coming: skipped) gives up what is kept and goes on, as if nothing were kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

T = TypeVar("T")

PATIENCE_S = 0.2  # how long the feeder waits for tests to take renderings before it lets them go


class RenderedAhead(Generic[T]):
    """Renderings by test id, in the order the feeder made them. Thread-safe: the feeder, the tests and the
    request loop's callbacks."""

    def __init__(self, room: int) -> None:
        self._room = max(room, 2)
        self._kept: OrderedDict[str, tuple[T, bool]] = OrderedDict()  # test id -> (rendering, answered already)
        self._answered = 0  # kept renderings whose request was answered: the bounded ones
        self._takes = 0  # renderings taken so far: whether tests still come
        self._taken = threading.Condition()

    def __len__(self) -> int:
        return len(self._kept)

    def keep(self, test_id: str, rendering: T, *, answered: bool) -> None:
        with self._taken:
            self._kept[test_id] = (rendering, answered)
            self._answered += answered

    def drop(self, test_id: str) -> None:
        """Its request was answered before its test came: not kept."""
        with self._taken:
            entry = self._kept.get(test_id)
            if entry is not None and not entry[1]:
                del self._kept[test_id]

    def take(self, test_id: str) -> T | None:
        """This test's rendering, if kept. Those kept before it belong to tests that did not come: dropped."""
        with self._taken:
            if test_id not in self._kept:
                return None
            before = self._answered
            self._takes += 1
            while True:
                key, (rendering, answered) = self._kept.popitem(last=False)
                self._answered -= answered
                if key == test_id:
                    break
            if before > self._room // 2 >= self._answered:
                self._taken.notify()
            return rendering

    def wait_for_room(self, stop: threading.Event) -> None:
        """The feeder, after keeping an answered one: when `room` are kept, wait for tests to take half."""
        with self._taken:
            if self._answered < self._room:
                return
            taken = self._takes
            while self._answered > self._room // 2 and not stop.is_set():
                if not self._taken.wait(PATIENCE_S) and self._takes == taken:  # no test took one meanwhile
                    self._let_go()
                    return
                taken = self._takes

    def _let_go(self) -> None:
        for key in [key for key, (_, answered) in self._kept.items() if answered]:
            del self._kept[key]
        self._answered = 0
