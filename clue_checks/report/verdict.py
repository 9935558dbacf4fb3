"""The release verdict, decided here and nowhere else, and the exit code that says it.

Five words; only "pass" is a pass:

- fail: a gate failed (the evidence says the release is worse than its bar), or something blocks a pass
  whatever the gates (a real model scored on the synthetic fixtures);
- incomplete: not every sample of a task was scored (or a gate's task only in part), so a gate is not decided;
- inconclusive: a gate's test could not have seen the drop it guards against (absence of evidence);
- not run: no gate applies (none configured, or none on a selected task), or a gate could not be run
  (a comparison gate without a baseline);
- pass: at least one gate counted, every counted gate passed, every task complete, nothing blocking.

A shard's report is "deferred": its gates are decided over all shards by `clue report merge`.
The words are checked in this order: a decided failure is reported as one even when other gates are
incomplete; an incomplete run is reported before a gate whose test was too weak.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: The verdict's words. Only "pass" is a pass. "deferred": a shard's report, decided by `clue report merge`.
PASS, FAIL, INCONCLUSIVE, INCOMPLETE, NOT_RUN, DEFERRED = ("pass", "fail", "inconclusive", "incomplete", "not run",
                                                          "deferred")
VERDICTS = (PASS, FAIL, INCONCLUSIVE, INCOMPLETE, NOT_RUN, DEFERRED)


@dataclass(frozen=True)
class Verdict:
    """The release verdict and why it is not a pass (empty on a pass)."""

    word: str
    reasons: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.word == PASS

    @property
    def deferred(self) -> bool:
        return self.word == DEFERRED


#: gate statuses that do not count towards the verdict
OUTSIDE_VERDICT = ("not selected", "deferred")

EXIT_PASS = 0  # pytest.ExitCode.OK
EXIT_NOT_A_PASS = 1  # pytest.ExitCode.TESTS_FAILED: fail, incomplete, not run
EXIT_INCONCLUSIVE = 6  # after pytest's own codes (0-5): the gates could not have seen the drop they guard against

_ORDER = (FAIL, INCOMPLETE, INCONCLUSIVE, NOT_RUN)


def decide(gates: Sequence[Any], tasks: Sequence[Any], *, compare_gates: Sequence[Any] = (),
           pass_blockers: Sequence[str] = (), deferred: str | None = None) -> Verdict:
    """The verdict of a run from its judged gates (`.status`, `.gate.name`), task summaries (`.complete`,
    `.title`, ...) and comparison gates; `deferred`: why this run decides nothing (a shard)."""
    if deferred is not None:
        return Verdict(DEFERRED, (deferred,))
    counted = [(f"gate {g.status}: {g.gate.name}", g.status) for g in gates if g.status not in OUTSIDE_VERDICT]
    counted += [(f"compare gate {g.status}: {g.gate.name}", g.status) for g in compare_gates
                if g.status not in OUTSIDE_VERDICT]
    reasons = [why for why, status in counted if status != PASS]
    words = {status for _, status in counted}
    unfinished = [f"{t.title} incomplete: {t.n_samples} of {t.n_total if t.n_total is not None else '?'} samples "
                  f"scored, {t.n_errored} errored" for t in tasks if not t.complete]
    reasons += unfinished + list(pass_blockers)
    if not counted:
        why = "no [gate] in the thresholds file" if not gates and not compare_gates else "no [gate] on a selected task"
        return Verdict(NOT_RUN, (why, *reasons))
    if pass_blockers:
        words.add(FAIL)
    if unfinished:
        words.add(INCOMPLETE)
    for word in _ORDER:
        if word in words:
            return Verdict(word, tuple(reasons))
    if words - {PASS}:  # a status this version does not know is never a pass
        return Verdict(FAIL, tuple(reasons))
    return Verdict(PASS, ())


def exit_code(verdict: Verdict) -> int:
    """The exit code that says the verdict: 0 pass (and a shard's deferred one), 6 inconclusive, 1 otherwise."""
    if verdict.word in (PASS, DEFERRED):
        return EXIT_PASS
    return EXIT_INCONCLUSIVE if verdict.word == INCONCLUSIVE else EXIT_NOT_A_PASS
