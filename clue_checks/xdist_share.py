"""A pytest-xdist scheduler that gives every worker a share it can know at collection time.

Worker `gwK` of N runs exactly the collected items whose index i satisfies i % N == K.
Each worker computes the same share from its own (identical) collection and sends those
requests at once, so under `-n N` every request is still sent once per run and all are in
flight together. If a worker dies, its remaining items go to the others through xdist's
usual rescheduling; those are fetched on demand (store first), still never twice.
"""

from __future__ import annotations

from xdist.scheduler import LoadScheduling


def share(index: int, worker: int, workers: int) -> bool:
    return index % workers == worker


def worker_number(gateway_id: str) -> int:
    return int(gateway_id.removeprefix("gw"))


class ShareScheduling(LoadScheduling):
    """LoadScheduling whose first distribution is the deterministic share, all at once."""

    def _collection_failed(self) -> bool:
        from .plugin import STATE

        state = self.config.stash.get(STATE, {})
        return bool(state.get("collection_failed")) and not self.config.option.continue_on_collection_errors

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.collection is not None:  # a later call: behave as LoadScheduling (reschedule)
            for node in self.nodes:
                self.check_schedule(node)
            return
        if not self._check_nodes_have_same_collection():
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = next(iter(self.node2collection.values()))
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
        workers = self.numnodes
        for node in self.nodes:
            number = worker_number(node.gateway.id)
            mine = [i for i in range(len(self.collection)) if share(i, number, workers)]
            if mine:
                self.node2pending[node].extend(mine)
                node.send_runtest_some(mine)
        self.pending[:] = []
        for node in self.nodes:
            node.shutdown()
