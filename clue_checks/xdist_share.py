"""A pytest-xdist scheduler that gives every worker a share it can know at collection time.

Items are grouped, in collection order, so that the repeats of one question (LongHealth's
five prompts per question, ids ending in `/r0` … `/r4`) form one group: their prompts can
coincide, and an identical request must be sent once, by one process. Worker `gwK` of N runs
exactly the items of the groups whose ordinal g satisfies g % N == K. Each worker computes
the same share from its own (identical) collection and sends those requests at once, so under
`-n N` every request is still sent once per run and all are in flight together. If a worker
dies, its remaining items go to the others through xdist's usual rescheduling; those are
fetched on demand (store first).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from xdist.scheduler import LoadScheduling

from clue_checks.sample_ids import task_of_nodeid

_REPEAT = re.compile(r"/r\d+\]$")  # a repeat of one question: `…[longhealth-t1:patient_03/q07/r2]`


def share_group(nodeid: str) -> str:
    return _REPEAT.sub("]", nodeid)


def shares(nodeids: Sequence[str], workers: int) -> list[int]:
    """The worker (0 … workers-1) of each item: repeat groups in order of first appearance, dealt round-robin."""
    ordinals: dict[str, int] = {}
    return [ordinals.setdefault(share_group(n), len(ordinals)) % workers for n in nodeids]


def worker_number(gateway_id: str) -> int:
    return int(gateway_id.removeprefix("gw"))


class ShareScheduling(LoadScheduling):
    """LoadScheduling whose first distribution is the deterministic share, all at once.

    `collection_failed` tells whether a worker reported a collection error (the controller role
    keeps that count). A collection without CLUE samples is scheduled as LoadScheduling does.
    """

    def __init__(self, config: Any, log: Any = None, *, collection_failed: Callable[[], bool] = lambda: False) -> None:
        super().__init__(config, log)
        self._collection_failed_now = collection_failed

    def _collection_failed(self) -> bool:
        return self._collection_failed_now() and not self.config.option.continue_on_collection_errors

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is not None:  # a later call: behave as LoadScheduling (reschedule)
            for node in self.nodes:
                self.check_schedule(node)
            return
        collection = next(iter(self.node2collection.values()), [])
        # Any task's samples (a task file's too): the workers of a CLUE session prefetch the share computed here.
        if not any(task_of_nodeid(n, any_task=True) for n in collection) and not self._collection_failed():
            super().schedule()  # no CLUE sample: nothing to share
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = collection
        if not self.collection:
            return
        if self.maxschedchunk is None:  # LoadScheduling's rescheduling after a crash needs it set
            self.maxschedchunk = len(self.collection)
        if self._collection_failed():
            # pytest stops at collection errors without running anything; xdist would run the rest.
            self.pending[:] = []
            for node in self.nodes:
                node.shutdown()
            return
        owner = shares(self.collection, self.numnodes)
        for node in self.nodes:
            number = worker_number(node.gateway.id)
            mine = [i for i, w in enumerate(owner) if w == number]
            if mine:
                self.node2pending[node].extend(mine)
                node.send_runtest_some(mine)
        self.pending[:] = []
        for node in self.nodes:
            node.shutdown()
