"""`--clue-shard=K/N`: a deterministic K-th of every task's samples, for CI machines that split a run.

Samples that share a cluster (LongHealth's repeats of one question, a MeDiSumQA note's questions)
stay in one shard: their requests can coincide, and an identical request is sent once, by one
machine. Clusters are dealt round-robin in the order they first appear in the task's scoring
order, so each shard gets an even share of every task and the split depends on nothing but the
data (not on -k, the machine, or which other tasks run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def shard_of(samples: Sequence[T], group_of: Callable[[T], str], shards: int) -> list[int]:
    """The shard (0 … shards-1) of each sample: groups in order of first appearance, dealt round-robin."""
    ordinals: dict[str, int] = {}
    return [ordinals.setdefault(group_of(s), len(ordinals)) % shards for s in samples]


def select_shard(samples: Sequence[T], group_of: Callable[[T], str], shard: tuple[int, int]) -> list[T]:
    """The samples of shard K of N (K counts from 1, as in `--clue-shard=1/4`)."""
    k, n = shard
    return [s for s, owner in zip(samples, shard_of(samples, group_of, n)) if owner == k - 1]
