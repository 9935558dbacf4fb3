"""A run's output that reads well by default: failing samples in one line each, the exit code explained.

A baseline (or a weak model) fails hundreds of samples; pytest's default failure section prints each
one's whole explanation under its own banner, and the table, the verdict and the page's link end up
thousands of lines up. When the user chose no traceback style (`--tb` left at pytest's `auto`) and
no `-v` (nor `-r`), and every failure of the session is a CLUE sample failing its check, the session's own
failure sections are turned off (`config.option.tbstyle = "no"`, and `f` out of the short summary's
characters) and the CLUE section lists the failing samples instead: one line each, the first few of
each task, and how to see all of them. Any `--tb`, `-v`, `-r`, a failure outside CLUE or a sample that
errored (a bug, a template error: its traceback is the useful part) keeps pytest's own output as it is.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping

SHOWN_PER_TASK = 3
HEADLINE_ATTRIBUTE = "clue_headline"  # on a sample's failed call report: its one-line reason


PYTEST_DEFAULT_REPORTCHARS = "fE"  # `-r` when not given


def wants_compact(tbstyle: str, verbosity: int, reportchars: str = PYTEST_DEFAULT_REPORTCHARS) -> bool:
    """The user left the traceback style (`--tb`) and the short summary (`-r`) to pytest, and asked for
    no detail (`-v`)."""
    return tbstyle == "auto" and verbosity <= 0 and reportchars == PYTEST_DEFAULT_REPORTCHARS


def shows_passes(reportchars: str) -> bool:
    """`-r` asks for the passing tests' output (`P`, or `A`), as pytest reads its characters."""
    shown = ""
    for char in reportchars:
        if char == "a":
            shown = "sxXEf"
        elif char == "A":
            shown = "PpsxXEf"
        elif char == "N":
            shown = ""
        elif char not in shown:
            shown += char
    return "P" in shown


class FailureLines:
    """The one-line reasons of the failing samples, per task: the first `kept` of each by the sample's place in
    its task (whatever order they were reported in), and how many failed; a run failing 20,000 samples keeps
    a handful of lines, not 20,000."""

    def __init__(self, kept: int = SHOWN_PER_TASK) -> None:
        self.kept = kept
        # per task: the kept lines as a max-heap on (place, arrival), so the latest of them goes first
        self._first: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        self._count: dict[str, int] = defaultdict(int)
        self.other = 0  # failures that are not a sample failing its check: they need pytest's detail

    def add(self, task: str, headline: str | None, index: int = 0) -> None:
        """`index`: the sample's place in its task, so the samples shown do not depend on which xdist
        worker reported first."""
        if headline is None:
            self.other += 1
            return
        arrival = self._count[task]
        self._count[task] += 1
        first = self._first[task]
        if len(first) < self.kept:
            heapq.heappush(first, (-index, -arrival, headline))
        elif (-index, -arrival) > first[0][:2]:  # before the latest kept one
            heapq.heapreplace(first, (-index, -arrival, headline))

    @property
    def by_task(self) -> dict[str, list[str]]:
        """The kept lines of each task, in the task's order."""
        return {task: [h for *_, h in sorted(first, reverse=True)] for task, first in self._first.items()}

    @property
    def total(self) -> int:
        return sum(self._count.values())

    def lines(self, titles: Mapping[str, str], *, per_task: int = SHOWN_PER_TASK, width: int = 0) -> list[str]:
        """`failing samples: …` and up to `per_task` headlines of each task (in `titles`' order, the table's),
        each cut to `width` (0: not cut), then how many more. `per_task` is at most `kept`."""
        if not self.total:
            return []
        out = [f"failing samples: {self.total} (the first {per_task} of each task; all: --tb=line; "
               "in full: --tb=long or -v)"]
        by_task = self.by_task
        ordered = [t for t in titles if t in by_task] + [t for t in by_task if t not in titles]  # the table's order
        for task, headlines in ((t, by_task[t]) for t in ordered):
            out += [_cut(f"  {h}", width) for h in headlines[:per_task]]
            if self._count[task] > per_task:
                out.append(f"  … {self._count[task] - per_task} more {titles.get(task, task)} samples failed")
        return out


def _cut(line: str, width: int) -> str:
    return line if width <= 0 or len(line) <= width else line[: max(width - 1, 1)] + "…"


def exit_code_line(status: int, *, mode: str, failed_samples: int, verdict: str | None) -> str:
    """What the session's exit code means, in the words of the run's mode."""
    shown = verdict.upper() if verdict else "not decided"
    if mode == "gates":
        return (f"exit code {status}: the verdict ({shown}) decides it (--clue-exit=gates), with any non-CLUE test "
                "of the session: 0 on PASS, 6 on INCONCLUSIVE, 1 otherwise")
    if status == 0:
        return (f"exit code 0: every test passed (pytest's meaning); the verdict ({shown}) does not set it: "
                "--clue-exit=gates makes the exit code the verdict")
    if status == 1 and failed_samples:
        return (f"exit code 1: {failed_samples} sample(s) failed their own check (pytest's meaning: a test failed), "
                f"whatever the verdict ({shown}); --clue-exit=gates makes the exit code the verdict")
    if status == 1:
        return f"exit code 1: a test of the session failed (pytest's meaning); the verdict is {shown}"
    return f"exit code {status}: the run did not complete (pytest's meaning); the verdict is {shown}"
