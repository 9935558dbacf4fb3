"""The plain values a role is built from: what the command line asked for, and, on an xdist worker, its place.

The adapter (roles/adapters.py) reads them from the pytest configuration; a test builds them directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from clue_checks.roles.private_records import PrivateRecords


@dataclass(frozen=True)
class RunOptions:
    """pytest's own options that change what a role does."""

    collect_only: bool = False  # --collect-only: nothing is sent, written or checked
    continue_on_collection_errors: bool = False
    tbstyle: str = "auto"  # --tb
    verbosity: int = 0  # -v / -q
    reportchars: str = "fE"  # -r (pytest's default)
    invocation_args: tuple[str, ...] = ()  # the command line, for the manifest


@dataclass(frozen=True)
class WorkerPlace:
    """An xdist worker's identity and what the controller handed it (its workerinput)."""

    worker_id: str  # "gw0"
    worker_count: int
    uses_share: bool = False  # the controller's scheduler is ours: this worker sends its own share (xdist_share.py)
    counts_folder: Path | None = None  # where it keeps its request counts should it die (worker_counts.py)


def _no_cleanup(_: Callable[[], None]) -> None:
    return None


@dataclass
class ProcessLinks:
    """What a role asks of the pytest session it runs in, bound by the adapter to that session."""

    add_cleanup: Callable[[Callable[[], None]], None] = _no_cleanup  # config.add_cleanup
    # This process's end of the channel for records' text under --clue-redact (private_records.py); looked
    # up when used: the xdist controller opens its folder only as the workers start.
    private_records: Callable[[], PrivateRecords] = field(default_factory=lambda: _one(PrivateRecords()))


def _one(records: PrivateRecords) -> Callable[[], PrivateRecords]:
    return lambda: records
