"""Kinds of one sample, and counts per task, in the table's order."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

from clue_checks.triage.detectors import DETECTORS
from clue_checks.triage.evidence import Evidence
from clue_checks.triage.kinds import KINDS, kinds_of_task


def kinds_for(evidence: Evidence) -> tuple[str, ...]:
    """The kinds of one sample, in table order: every kind looked for on its task whose detector fires."""
    looked_for = evidence.looked_for if evidence.looked_for is not None else kinds_of_task(evidence.task)
    return tuple(name for name, detects in _detectors_of(tuple(looked_for)) if detects(evidence))


@lru_cache(maxsize=None)
def _detectors_of(looked_for: tuple[str, ...]) -> tuple[tuple[str, Callable[[Evidence], bool]], ...]:
    """The kinds looked for with their detectors, in table order (once per task, not per sample)."""
    return tuple((k.name, DETECTORS[k.name]) for k in KINDS if k.name in looked_for)


def kind_counts(task: str, kinds_per_sample: Iterable[Sequence[str]],
                looked_for: Sequence[str] | None = None) -> dict[str, int]:
    """Samples per kind for one task: every kind looked for on it (0 included: looked for, not found), in table
    order, then any other kind the samples carry (e.g. from a newer table), by name. `looked_for`: the kinds the
    task declares (a task file's); None: the kinds table's entry for its name."""
    counted = Counter(kind for kinds in kinds_per_sample for kind in dict.fromkeys(kinds))
    wanted = kinds_of_task(task) if looked_for is None else tuple(k.name for k in KINDS if k.name in looked_for)
    counts = {name: counted.pop(name, 0) for name in wanted}
    counts.update(sorted(counted.items()))
    return counts
