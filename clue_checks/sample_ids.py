"""Which test ids look like CLUE samples: `…::test_sample[<task>:<sample id>]` (the plugin's parametrization).

Used where only node ids are at hand (the xdist scheduler), so it imports no task code. It is a
good guess, not proof (another test may have a parameter that reads alike): it decides how tests
are scheduled, never whether the report folder is touched.
"""

from __future__ import annotations

import re

from clue_checks.names import TASKS

_SAMPLE = re.compile(r"(" + "|".join(re.escape(t) for t in TASKS) + r"):")
# Any task's sample, a user's too (a task file's name: names.TASK_NAME), for a scheduler that runs only
# in a session that asked for CLUE, where a wrong guess costs a static share of a non-sample test.
_ANY_SAMPLE = re.compile(r"([a-z][a-z0-9_-]{0,47}):")


def task_of_nodeid(nodeid: str, *, any_task: bool = False) -> str | None:
    """The CLUE task of a sample's node id (its whole parameter is `<task>:<id>`); None for any other test.
    `any_task`: a user's task's name counts too (any plain name before the colon)."""
    path, bracket, param = nodeid.partition("[")
    if not bracket or not param.endswith("]"):
        return None
    match = (_ANY_SAMPLE if any_task else _SAMPLE).match(param)
    return match.group(1) if match else None
