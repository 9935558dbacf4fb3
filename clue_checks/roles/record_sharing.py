"""One copy of the values that many sample records repeat, for the records a controller keeps to the end.

Every record the controller receives is decoded afresh (from xdist's wire, or scrubbed into new strings), so
20,000 LongHealth records would hold 20,000 copies of the same reason ("no 'The correct answer is X:' …"),
the same task name, failure kinds and finish reason, and an empty `not_computed` dict each. `SharedValues`
hands back the first copy of each such value instead; the values are equal, so no report byte changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

SHARED_KEYS = ("task", "outcome", "source", "reason", "cluster", "finish_reason")  # strings many records repeat
EMPTY: Mapping[str, Any] = MappingProxyType({})
MAX_DISTINCT = 4_096  # past it new values are left as they are: reasons unique per sample cost no entry each


class SharedValues:
    """`shared(data)`: a record's dict (`SampleRecord.as_dict()`'s shape) with its repeated values shared."""

    def __init__(self, max_distinct: int = MAX_DISTINCT) -> None:
        self._seen: dict[Any, Any] = {}
        self._max = max_distinct

    def _one(self, value: Any) -> Any:
        found = self._seen.get(value)
        if found is not None:
            return found
        if len(self._seen) < self._max:
            self._seen[value] = value
        return value

    def __call__(self, data: dict[str, Any]) -> dict[str, Any]:
        for key in SHARED_KEYS:
            value = data.get(key)
            if type(value) is str:
                data[key] = self._one(value)
        kinds = data.get("kinds")
        if kinds is not None:
            data["kinds"] = self._one(tuple(kinds))
        for key in ("metrics", "not_computed"):
            if key in data and not data[key]:
                data[key] = EMPTY
        return data
