"""Which test ids look like CLUE samples: `…::test_sample[<task>:<sample id>]` (the plugin's parametrization).

Used where only node ids are at hand (the xdist scheduler), so it imports no task code. It is a
good guess, not proof (another test may have a parameter that reads alike): it decides how tests
are scheduled, never whether the report folder is touched.
"""

from __future__ import annotations

import re

from .settings import TASKS

_SAMPLE = re.compile(r"(" + "|".join(re.escape(t) for t in TASKS) + r"):")


def task_of_nodeid(nodeid: str) -> str | None:
    """The CLUE task of a sample's node id (its whole parameter is `<task>:<id>`); None for any other test."""
    path, bracket, param = nodeid.partition("[")
    if not bracket or not param.endswith("]"):
        return None
    match = _SAMPLE.match(param)
    return match.group(1) if match else None
