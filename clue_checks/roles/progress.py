"""The live progress line of a single-process run (clue_checks/progress.py draws it; this wires it to pytest).

pytest owns the terminal: its per-file line of dots (or, with -v, one line per test) is written
as tests finish. Our line must never garble it, so:

- on a terminal, the line is drawn only while a sample test is blocked waiting for its answer, on
  the line *below* pytest's current one, and the cursor goes straight back to where pytest left it
  (`\\n`, the text, then cursor-up and column, raw ANSI that tmux and every xterm understand). When
  the wait ends the line below is erased, so pytest's next character lands where it would have;
- without a terminal (CI logs), a plain line every 15 s after a test, on a line of its own;
- nothing under `-q`, with `-p no:terminal`, or in an xdist worker (its output is not a terminal).

All drawing happens in the main thread (the test's own wait loop, and after each test report), with
pytest's output capture suspended as pytest's live logging does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ..progress import LiveProgress, Snapshot


class _BelowTheLine:
    """`progress.Writer` for a terminal: draws under pytest's current line and returns the cursor."""

    def __init__(self, reporter: Any, capman: Any) -> None:
        self._reporter = reporter
        self._capman = capman
        self.drawn = False

    def _raw(self, text: str) -> None:
        tw = self._reporter._tw  # pytest's TerminalWriter: write_raw leaves its column bookkeeping alone
        with _uncaptured(self._capman):
            tw.write_raw(text, flush=True)

    def _column(self) -> int:
        tw = self._reporter._tw
        return tw.width_of_current_line % max(tw.fullwidth, 1)

    def rewrite(self, line: str, **markup: bool) -> None:
        width = max(self._reporter._tw.fullwidth - 1, 10)
        self._raw(f"\n\r{line[:width]}\x1b[K\x1b[1A\x1b[{self._column() + 1}G")
        self.drawn = True

    def erase(self) -> None:
        if self.drawn:
            self._raw(f"\n\r\x1b[2K\x1b[1A\x1b[{self._column() + 1}G")
            self.drawn = False

    def write_line(self, line: str, **markup: bool) -> None:
        self.erase()  # the final state is the summary's `run:` line on a terminal


class _PlainLines:
    """`progress.Writer` without a terminal: whole lines through pytest's reporter."""

    def __init__(self, reporter: Any, capman: Any) -> None:
        self._reporter = reporter
        self._capman = capman

    def rewrite(self, line: str, **markup: bool) -> None:
        self.write_line(line)

    def write_line(self, line: str, **markup: bool) -> None:
        with _uncaptured(self._capman):
            self._reporter.write_line(line)


@contextlib.contextmanager
def _uncaptured(capman: Any) -> Iterator[None]:
    if capman is None:
        yield
    else:
        with capman.global_and_fixture_disabled():
            yield


class SessionProgress:
    """Counts this process's finished samples and shows the live line (see the module docstring)."""

    def __init__(self, config: pytest.Config, total: int, counters: Callable[[], dict[str, Any]]) -> None:
        reporter = config.pluginmanager.getplugin("terminalreporter")
        capman = config.pluginmanager.getplugin("capturemanager")
        self.total = total
        self.done = 0
        self._counters = counters
        quiet = reporter is None or config.get_verbosity() < 0
        self.tty = bool(reporter is not None and reporter.isatty())
        self._writer: _BelowTheLine | _PlainLines | None = None
        if reporter is not None:
            self._writer = _BelowTheLine(reporter, capman) if self.tty else _PlainLines(reporter, capman)
        self._live = LiveProgress(self._writer, self.snapshot, tty=self.tty,  # type: ignore[arg-type]
                                  quiet=quiet or self._writer is None)

    def snapshot(self) -> Snapshot:
        c = self._counters()
        return Snapshot(done=self.done, total=self.total, in_flight=int(c.get("in_flight") or 0),
                        answered=int(c.get("sent") or 0), from_store=int(c.get("from_store") or 0),
                        retries=int(c.get("retries") or 0), errors=int(c.get("failed") or 0),
                        tokens_out=int(c.get("tokens_out") or 0), concurrency=c.get("limit"))

    @contextlib.contextmanager
    def waiting(self) -> Iterator[Callable[[], None] | None]:
        """Around a sample's wait: yields the poll callback, erases the line when the wait ends."""
        try:
            yield self._live.tick
        finally:
            if isinstance(self._writer, _BelowTheLine):
                self._writer.erase()

    def test_done(self) -> None:
        self.done += 1
        if not self.tty:
            self._live.tick()

    def finish(self) -> None:
        if not self.tty:
            self._live.finish()
