"""Kinds of one sample, and counts per task, in the table's order."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from .detectors import DETECTORS
from .evidence import Evidence
from .kinds import KINDS, applies, kinds_of_task


def kinds_for(evidence: Evidence) -> tuple[str, ...]:
    """The kinds of one sample, in table order: every kind looked for on its task whose detector fires."""
    return tuple(k.name for k in KINDS if applies(k, evidence.task) and DETECTORS[k.name](evidence))


def kind_counts(task: str, kinds_per_sample: Iterable[Sequence[str]]) -> dict[str, int]:
    """Samples per kind for one task: every kind looked for on it (0 included: looked for, not found), in table
    order, then any other kind the samples carry (e.g. from a newer table), by name."""
    counted = Counter(kind for kinds in kinds_per_sample for kind in dict.fromkeys(kinds))
    counts = {name: counted.pop(name, 0) for name in kinds_of_task(task)}
    counts.update(sorted(counted.items()))
    return counts
