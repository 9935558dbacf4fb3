"""Metrics: small pure modules. Per-sample metrics score one pair; batched ones a whole task at once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BatchedValues:
    """One batched metric over all samples of a task, in the order the pairs were given.

    `not_computed` carries the reason when the metric could not run at all (a missing model or
    package); then `values` is empty. A single pair that cannot be scored is None in `values`.
    """

    values: tuple[float | None, ...] = ()
    not_computed: str | None = None
