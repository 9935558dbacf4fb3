"""Where a sample's long texts lie on disk while the run goes on: a `TextSpool` file and a `TextRef` into it.

A LongHealth prompt is ~30 KB and a full run has 6,000 of them: a sample record that held its prompt,
response and reference until the report is written grew the run by ~60 KB a sample. Each process appends
its samples' texts to its own spool file as each test finishes (one JSON object a line); the record keeps
only a `TextRef` (file, byte offset, length), which crosses xdist's wire as three plain values. The report
reads the texts back one sample at a time as it writes (`SampleRecord.filled`).

A `TextRef` may also point at a line of a report folder's `predictions/<task>.jsonl` (the merge of shard
reports reads them so): any JSON object with the keys of `TEXT_KEYS` is a place texts lie.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clue_checks.errors import ReportError

TEXT_KEYS = ("prompt", "response", "reference")  # the long texts of a sample record


class TextSpoolError(ReportError, OSError):
    """A spool file that cannot be written or read back; names the file."""


@dataclass(frozen=True, slots=True)  # one per sample, kept for the whole run: no per-instance dict
class TextRef:
    """Where one sample's texts lie: `length` bytes at `offset` of `file`, one JSON object."""

    file: str
    offset: int
    length: int

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "offset": self.offset, "length": self.length}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TextRef":
        return cls(str(data["file"]), int(data["offset"]), int(data["length"]))

    def read(self) -> dict[str, str | None]:
        """The texts (each of `TEXT_KEYS`, None where the object has none). Raises TextSpoolError."""
        try:
            with open(self.file, "rb") as handle:
                handle.seek(self.offset)
                raw = handle.read(self.length)
            data = json.loads(raw.decode("utf-8", "surrogatepass"))
        except OSError as exc:
            raise TextSpoolError(f"{self.file}: cannot read a sample's texts back ({exc.strerror or exc})") from None
        except ValueError as exc:  # a file changed or cut under the run: JSON or UTF-8 fails
            raise TextSpoolError(f"{self.file}, byte {self.offset}: not a sample's texts ({exc}); the file was "
                                 "changed after it was written: rerun") from None
        if not isinstance(data, dict):
            raise TextSpoolError(f"{self.file}, byte {self.offset}: not a sample's texts (not a JSON object)")
        return {key: data.get(key) for key in TEXT_KEYS}


class TextSpool:
    """One process's append-only spool file (made 0600: it holds clinical text). Not thread-safe: one writer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._name = str(path)  # one string shared by every sample's TextRef, not one each
        self._fd: int | None = None
        self._end = 0  # the file's size: where the next object starts

    def put(self, texts: Mapping[str, str | None]) -> TextRef:
        """Appends the texts (one JSON line) and says where they lie. Raises TextSpoolError naming the file."""
        data = (json.dumps({k: texts.get(k) for k in TEXT_KEYS}, ensure_ascii=False) + "\n").encode(
            "utf-8", "surrogatepass")
        try:
            if self._fd is None:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    self._end = os.fstat(fd).st_size  # one writer: from here on the end is counted, not asked
                except OSError:
                    os.close(fd)
                    raise
                self._fd = fd
            start = self._end
            written = os.write(self._fd, data)
            self._end += written  # a partial write moved the end too: the next object starts after it
            if written != len(data):
                raise OSError(f"wrote {written} of {len(data)} bytes")
        except OSError as exc:
            raise TextSpoolError(f"{self.path}: cannot write a sample's texts ({getattr(exc, 'strerror', None) or exc}); "
                                 "the sample keeps them in memory") from None
        return TextRef(self._name, start, len(data) - 1)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
