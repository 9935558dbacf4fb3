"""Under xdist, each worker's request counts survive the worker: a killed worker's requests are counted.

A worker's counts reach the controller with its output when it finishes; a worker killed (OOM, kill -9)
sends none, and the report would under-count what the server received. So each worker also keeps its
counts in a file of a folder the controller made, rewritten in place as each request completes (one
fixed-width line, one write: never half-written); the controller reads a dead worker's file.
Requests that were on the wire when it died are counted apart (`in_flight`): they may have reached the
server.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pytest

FOLDER_KEY = "clue_worker_counts"
FIELDS = ("sent", "failed", "from_store", "shared", "in_flight")
_FOLDER = pytest.StashKey[Path]()


def folder_for_workers(config: pytest.Config) -> str:
    """The controller's folder (made once, removed when the session ends)."""
    if _FOLDER not in config.stash:
        folder = Path(tempfile.mkdtemp(prefix="clue-counts-"))
        config.stash[_FOLDER] = folder
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
    return str(config.stash[_FOLDER])


class CountsFile:
    """A worker's end: `write` after each request completes (called on the request loop's thread)."""

    def __init__(self, folder: Path, worker: str) -> None:
        self._fd = os.open(folder / f"{worker}.counts", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)

    def write(self, counts: Mapping[str, int | None]) -> None:
        line = " ".join(f"{name}={int(counts.get(name) or 0):012d}" for name in FIELDS) + "\n"
        os.pwrite(self._fd, line.encode("ascii"), 0)

    def close(self) -> None:
        os.close(self._fd)


def read_counts(config: pytest.Config, worker: str) -> dict[str, int] | None:
    """A worker's last counts, or None when it wrote none."""
    if _FOLDER not in config.stash:
        return None
    try:
        line = (config.stash[_FOLDER] / f"{worker}.counts").read_text(encoding="ascii").strip()
        return {name: int(value) for name, value in (part.split("=", 1) for part in line.split())}
    except (OSError, ValueError):
        return None
