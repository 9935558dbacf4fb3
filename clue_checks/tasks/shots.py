"""CLUE's few-shot selection: shots come from the evaluated file itself (docs/clue-faithfulness.md#shots)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from clue_checks.tasks.profiles import ShotSelection

T = TypeVar("T")

SHOT_SEED = 1  # CLUE's `random.seed(1)`; written into every report


def split_shots(records: Sequence[T], k: int, selection: ShotSelection) -> tuple[list[T], list[T]]:
    """(shots, scored): the first k records are shots and are removed from the scored set.

    `shuffle-seed-1` reproduces CLUE's `random.seed(1); random.shuffle(records)` with a private
    generator, which gives the same permutation as the global one for the same seed.
    """
    ordered = list(records)
    if selection == "shuffle-seed-1":
        random.Random(SHOT_SEED).shuffle(ordered)
    elif selection != "first":
        raise ValueError(f"unknown shot selection {selection!r}")
    return ordered[:k], ordered[k:]
