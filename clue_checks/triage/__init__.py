"""Failure kinds: one table (`kinds.KINDS`), one pure detector per kind, beside CLUE's scores, never changing them.

    evidence = evidence_for(task, evaluated, result, floors)   # or evidence_for_error(task_name, str(exc))
    kinds = kinds_for(evidence)                                 # ("truncated", "format")
    counts = kind_counts(task_name, [row.kinds for row in rows])
"""

from clue_checks.triage.classify import kind_counts, kinds_for
from clue_checks.triage.evidence import Evidence, evidence_for, evidence_for_error
from clue_checks.triage.kinds import KIND_NAMES, KINDS, Kind, kinds_of_task

__all__ = ["Evidence", "KINDS", "KIND_NAMES", "Kind", "evidence_for", "evidence_for_error", "kind_counts",
           "kinds_for", "kinds_of_task"]
