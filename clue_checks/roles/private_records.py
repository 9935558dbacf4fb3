"""Under --clue-redact, a sample's record reaches the controller outside its test report.

A test report is written whole by other plugins (pytest-reportlog's --report-log writes every
attribute, xdist sends serialised reports), so under --clue-redact the report carries the
record with its clinical text hashed (`report.redact.redact_row`), and the text itself, which the
controller needs for batched metrics (BERTScore), goes by a private channel:

- in one process, a dict in memory;
- under xdist, one file per worker in a folder that only this user can open (mode 0700, its files
  0600), made by the controller, named to the workers in their workerinput, removed at the end.

The response store, which holds the same text, stays the only file of a run that keeps it.

The same folder holds each process's text spool (text_spool.py, whatever --clue-redact says): a sample's
prompt, response and reference, written as its test finishes, read back by the report; in one process the
folder is made when the first sample's texts are spooled. The process that makes the folder holds it
(private_folder.py): a later run removes it if this one is killed before it can.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from clue_checks.private_folder import PrivateFolder
from clue_checks.text_spool import TextSpool

FOLDER_KEY = "clue_private_records"
ATTRIBUTE = "clue_private"  # set on a report whose record's text travels here
_CHANNEL = pytest.StashKey["PrivateRecords"]()


def _key(node_id: str, when: str) -> str:
    return f"{when} {node_id}"


class PrivateRecords:
    def __init__(self, folder: Path | None = None, worker: str | None = None, *,
                 held: PrivateFolder | None = None) -> None:
        self.folder = held.path if held is not None else folder
        self._worker = worker
        self._held = held  # the folder this process made, removed when it closes
        self._pending: dict[str, dict[str, Any]] = {}
        self._offsets: dict[Path, int] = {}
        self._fd: int | None = None
        self._spool: TextSpool | None = None

    def spool(self) -> TextSpool:
        """This process's text spool, in the folder (one process: a folder of its own, made now, 0700)."""
        if self._spool is None:
            if self.folder is None:
                self._held = PrivateFolder.make()
                self.folder = self._held.path
            self._spool = TextSpool(self.folder / f"{self._worker or 'main'}.texts")
        return self._spool

    def put(self, node_id: str, when: str, record: dict[str, Any]) -> None:
        if self.folder is None or self._worker is None:
            self._pending[_key(node_id, when)] = record
            return
        if self._fd is None:
            self._fd = os.open(self.folder / f"{self._worker}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        line = json.dumps({"key": _key(node_id, when), "record": record}, ensure_ascii=False) + "\n"
        os.write(self._fd, line.encode("utf-8", "surrogatepass"))  # whole, before the report is sent

    def take(self, node_id: str, when: str) -> dict[str, Any] | None:
        key = _key(node_id, when)
        if key not in self._pending and self.folder is not None:
            self._read_new_lines()
        return self._pending.pop(key, None)

    def _read_new_lines(self) -> None:
        assert self.folder is not None
        for path in sorted(self.folder.glob("*.jsonl")):
            with path.open("rb") as handle:
                handle.seek(self._offsets.get(path, 0))
                data = handle.read()
            complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next read
            self._offsets[path] = self._offsets.get(path, 0) + len(complete)
            for line in complete.splitlines():
                entry = json.loads(line.decode("utf-8", "surrogatepass"))
                self._pending[entry["key"]] = entry["record"]

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._held is not None:
            self._held.remove()
            self._held = None


def channel(config: pytest.Config) -> PrivateRecords:
    """This process's end of the channel: a worker writes, the controller (or a single process) reads."""
    if _CHANNEL not in config.stash:
        workerinput = getattr(config, "workerinput", None)
        if workerinput is not None and workerinput.get(FOLDER_KEY):
            made = PrivateRecords(Path(workerinput[FOLDER_KEY]), str(workerinput.get("workerid", "gw")))
        else:
            made = PrivateRecords()
        config.stash[_CHANNEL] = made
        config.add_cleanup(made.close)
    return config.stash[_CHANNEL]


def open_for_workers(config: pytest.Config) -> str:
    """The controller's folder for the workers' records (made once, removed when the session ends)."""
    if _CHANNEL not in config.stash or config.stash[_CHANNEL].folder is None:
        made = PrivateRecords(held=PrivateFolder.make())  # mode 0700, held until the session ends
        config.stash[_CHANNEL] = made
        config.add_cleanup(made.close)
    folder = config.stash[_CHANNEL].folder
    assert folder is not None
    return str(folder)
