"""The live progress line wired to pytest (clue_checks/progress_line.py draws it): a single process, or the
xdist controller summing what its workers send.

pytest owns the terminal: its line of dots (or, with -v, one line per test) is written as tests
finish. Our line must never garble it, so:

- on a terminal, the line is drawn on the line *below* pytest's current one, and the cursor goes
  straight back to where pytest left it (`\\n`, the text, then cursor-up and column, raw ANSI that
  tmux and every xterm understand). It is erased before pytest writes again, so pytest's next
  character lands where it would have. In a single process it is drawn while a sample test is
  blocked waiting for its answer and erased when the wait ends; on the xdist controller it is
  erased before each report (or anything else pytest and xdist print) and drawn again after it;
- without a terminal (CI logs), a plain line every `--clue-progress-every` seconds (15) after a
  test, on a line of its own;
- nothing under `-q` or with `-p no:terminal`. An xdist worker draws nothing itself: it attaches its
  request counters to each sample's report (`clue_progress`), and the controller draws the sum.

All drawing happens in the main thread, with pytest's output capture suspended as pytest's live
logging does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from clue_checks.progress_line import LiveProgress, RunTotals, Snapshot, from_counters

REPORT_ATTRIBUTE = "clue_progress"  # on a worker's sample report: its request counters (a JSON-able dict)


def finishes_sample(report: pytest.TestReport) -> bool:
    """The report that ends a sample test: its call, or a setup that failed or skipped (no call follows)."""
    return bool(getattr(report, "clue_sample", False)) and (
        report.when == "call" or (report.when == "setup" and not report.passed))


class _BelowTheLine:
    """`progress.Writer` for a terminal: draws under pytest's current line and returns the cursor.

    The terminal's width and pytest's column are read with capture suspended: while pytest captures
    the test's output the terminal cannot be asked its size, and the width falls back to 80, which
    put the cursor back in the wrong column on any wider terminal (and pytest's next dots over its
    earlier ones). A line that fills the terminal exactly leaves the cursor in the terminal's
    "pending wrap" state, where no cursor motion can put it back: then nothing is drawn.
    """

    def __init__(self, tw: Any, capman: Any) -> None:
        self._tw = tw  # the session's TerminalWriter (Config.get_terminal_writer())
        self._capman = capman
        self.drawn = False

    def _below(self, text: str) -> bool:
        """Write `text` on the line below pytest's and return to pytest's column; False if it cannot."""
        tw = self._tw  # write_raw leaves the writer's column bookkeeping alone
        with _uncaptured(self._capman):
            width = max(tw.fullwidth, 1)
            used = tw.width_of_current_line
            if used and used % width == 0:
                return False
            tw.write_raw(f"\n\r{text[:max(width - 1, 1)]}\x1b[K\x1b[1A\x1b[{used % width + 1}G", flush=True)
        return True

    def rewrite(self, line: str, **markup: bool) -> None:
        if self._below(line):
            self.drawn = True
        else:
            self.erase()

    def erase(self) -> None:
        if self.drawn:
            self._below("")
            self.drawn = False

    def write_line(self, line: str, **markup: bool) -> None:
        self.erase()  # the final state is the summary's `run:` line on a terminal


class _PlainLines:
    """`progress.Writer` without a terminal: whole lines through pytest's reporter."""

    def __init__(self, reporter: Any, tw: Any, capman: Any) -> None:
        self._reporter = reporter
        self._tw = tw  # the session's TerminalWriter (Config.get_terminal_writer())
        self._capman = capman

    def rewrite(self, line: str, **markup: bool) -> None:
        self.write_line(line)

    def write_line(self, line: str, **markup: bool) -> None:
        with _uncaptured(self._capman):
            # Under xdist pytest writes its dots without marking the line as started, so its own
            # write_line would append to them: end the dots' line first.
            if self._tw.width_of_current_line:
                self._tw.line()
            self._reporter.write_line(line)


@contextlib.contextmanager
def _uncaptured(capman: Any) -> Iterator[None]:
    if capman is None:
        yield
    else:
        with capman.global_and_fixture_disabled():
            yield


def _writer_for(config: pytest.Config) -> tuple[_BelowTheLine | _PlainLines | None, bool, bool]:
    """(writer, on a terminal, quiet) for this session's terminal reporter."""
    reporter = config.pluginmanager.getplugin("terminalreporter")
    if reporter is None:  # -p no:terminal
        return None, False, True
    capman = config.pluginmanager.getplugin("capturemanager")
    tty = bool(reporter.isatty())
    tw = config.get_terminal_writer()
    writer = _BelowTheLine(tw, capman) if tty else _PlainLines(reporter, tw, capman)
    return writer, tty, config.get_verbosity() < 0


class SessionProgress:
    """Counts this process's finished samples and shows the live line (see the module docstring)."""

    def __init__(self, config: pytest.Config, total: int, counters: Callable[[], dict[str, Any]], *,
                 every: float) -> None:
        self.total = total
        self.done = 0
        self._counters = counters
        self._writer, self.tty, quiet = _writer_for(config)
        self._live = LiveProgress(self._writer, self.snapshot, tty=self.tty,  # type: ignore[arg-type]
                                  quiet=quiet, ci_interval=every)

    def snapshot(self) -> Snapshot:
        return from_counters(self.done, self.total, self._counters())

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


class ControllerProgress:
    """The xdist controller's live line: each worker's latest counters (sent with its sample reports),
    summed, and the samples finished over all workers.

    The controller's main thread sits in xdist's event loop, so the line changes when a report
    arrives: on a terminal it is erased before pytest (or xdist) writes anything for the event and
    drawn again after, with the new numbers; without one, a plain line every `every` seconds.
    """

    def __init__(self, config: pytest.Config, *, every: float) -> None:
        self.config = config
        self.totals = RunTotals()
        self.tty = False
        self._writer: _BelowTheLine | _PlainLines | None = None
        self._every = every
        self._live: LiveProgress | None = None
        self._finished = False

    def _start(self) -> LiveProgress:
        # The rates' clock starts when the first worker has collected (it sends its requests then). The
        # terminal reporter is looked up now: at configure time it may not be registered yet.
        if self._live is None:
            self._writer, self.tty, quiet = _writer_for(self.config)
            self._live = LiveProgress(self._writer, self.totals.snapshot, tty=self.tty,  # type: ignore[arg-type]
                                      quiet=quiet, ci_interval=self._every)
        return self._live

    def _erase(self) -> bool:
        """Take the terminal line away before pytest writes; True if it was there."""
        if isinstance(self._writer, _BelowTheLine) and self._writer.drawn:
            self._writer.erase()
            return True
        return False

    def _around_output(self) -> Any:
        """A wrapper's body for a hook in which pytest writes: the line away, then back with the same numbers."""
        was_drawn = self._erase()
        result = yield
        if was_drawn and self._live is not None and not self._finished:
            self._live.show()
        return result

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self._start()

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Any:
        self._erase()  # pytest's dot (or -v line) may begin a new line: ours must not be under it
        result = yield
        counters = getattr(report, REPORT_ATTRIBUTE, None)
        if isinstance(counters, dict):
            self.totals.update(getattr(report, "node", None), counters)
        if finishes_sample(report):
            self.totals.sample_finished()
        # Only a CLUE sample's report redraws (not, e.g., the one xdist makes up for a crashed worker's test).
        if counters is not None and not self._finished:
            live = self._start()
            if self.tty:
                live.show()  # redrawn after every report: it was erased above
            else:
                live.tick()
        return result

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> Any:
        return (yield from self._around_output())  # -v under xdist: the test's name on a line of its own

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> Any:
        return (yield from self._around_output())

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collectreport(self, report: pytest.CollectReport) -> Any:
        return (yield from self._around_output())

    @pytest.hookimpl(optionalhook=True, wrapper=True, tryfirst=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> Any:
        self._erase()  # xdist names a crashed worker, then says it replaces it
        self.totals.worker_down(node, crashed=bool(error))
        return (yield)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Any:
        try:
            return (yield)
        finally:  # after pytest's own `[100%]`: the last numbers on a line of their own (CI), or nothing
            self.finish()

    def pytest_internalerror(self, excrepr: Any, excinfo: Any) -> None:
        self._erase()

    def pytest_keyboard_interrupt(self, excinfo: Any) -> None:
        self._erase()

    def finish(self) -> None:
        """Once, when the test loop ends: erase the terminal line, or write the last plain line."""
        self._erase()
        if self._live is not None and not self._finished and not self.tty:
            self._live.finish()
        self._finished = True
