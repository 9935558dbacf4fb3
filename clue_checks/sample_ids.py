"""Which test ids are CLUE samples: `…::test_sample[<task>:<sample id>]` (the id the plugin parametrizes with).

Used where only node ids are at hand (the xdist controller and scheduler), so it imports no task code.
"""

from __future__ import annotations

import re

from .settings import TASKS

_SAMPLE = re.compile(r"\[(" + "|".join(re.escape(t) for t in TASKS) + r"):.*\]\Z")


def task_of_nodeid(nodeid: str) -> str | None:
    """The CLUE task of a sample's node id; None for any other test."""
    match = _SAMPLE.search(nodeid)
    return match.group(1) if match else None
