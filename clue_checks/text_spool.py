"""Where a sample's long texts lie on disk while the run goes on: a `TextSpool` file and a `TextRef` into it.

A LongHealth prompt is ~30 KB and a full run has 6,000 of them: a sample record that held its prompt,
response and reference until the report is written grew the run by ~60 KB a sample. Each process appends
its samples' texts to its own spool file as each test finishes (one JSON object a line); the record keeps
only a `TextRef` (file, byte offset, length), which crosses xdist's wire as three plain values. The report
reads the texts back one sample at a time as it writes (`SampleRecord.filled`).

A `TextRef` may also point at a line of a report folder's `predictions/<task>.jsonl` (the merge of shard
reports reads them so): any JSON object with the keys of `TEXT_KEYS` is a place texts lie.

A spool line is `{"prompt": P, "response": R, "reference": F}` with each text JSON-encoded as the prediction
files encode it, and its `TextRef` records each text's encoded length (`parts`): the prediction files splice
those bytes in (report/write/spliced.py) rather than decode ~30 KB prompts and encode them again. A
`SpoolReader` keeps one handle per file open while the report reads thousands of texts back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from types import TracebackType
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clue_checks.errors import ReportError

TEXT_KEYS = ("prompt", "response", "reference")  # the long texts of a sample record


class TextSpoolError(ReportError, OSError):
    """A spool file that cannot be written or read back; names the file."""


# How a spool line is laid out around its texts' JSON (`TextSpool.put`): the bytes before each text, and the end.
_FRAMES = tuple(f'{", " if i else "{"}{json.dumps(key)}: '.encode() for i, key in enumerate(TEXT_KEYS))
_END = b"}"


@dataclass(frozen=True, slots=True)  # one per sample, kept for the whole run: no per-instance dict
class TextRef:
    """Where one sample's texts lie: `length` bytes at `offset` of `file`, one JSON object. `parts`: the byte
    length of each text's JSON (`TEXT_KEYS` order) in a spool line; None where the line is laid out otherwise
    (a prediction file's). `chars`: the prompt's length in characters (the page shows its start and end only)."""

    file: str
    offset: int
    length: int
    parts: tuple[int, int, int] | None = None
    chars: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "offset": self.offset, "length": self.length,
                **({"parts": list(self.parts)} if self.parts is not None else {}),
                **({"chars": self.chars} if self.chars is not None else {})}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TextRef":
        parts, chars = data.get("parts"), data.get("chars")
        return cls(str(data["file"]), int(data["offset"]), int(data["length"]),
                   None if parts is None else (int(parts[0]), int(parts[1]), int(parts[2])),
                   None if chars is None else int(chars))

    def read(self) -> dict[str, str | None]:
        """The texts (each of `TEXT_KEYS`, None where the object has none). Raises TextSpoolError."""
        with SpoolReader() as reader:
            return reader.texts(self)


class SpoolReader:
    """Reads texts back through one open handle per file (the report reads thousands of them). A context
    manager: the handles are closed at its end."""

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}

    def __enter__(self) -> "SpoolReader":
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)

    def raw(self, ref: TextRef) -> bytes:
        """The line's bytes. Raises TextSpoolError."""
        try:
            fd = self._fds.get(ref.file)
            if fd is None:
                fd = self._fds[ref.file] = os.open(ref.file, os.O_RDONLY)
            raw = os.pread(fd, ref.length, ref.offset)
        except OSError as exc:
            raise TextSpoolError(f"{ref.file}: cannot read a sample's texts back ({exc.strerror or exc})") from None
        if len(raw) != ref.length:
            raise _changed(ref, "the file is shorter")
        return raw

    def texts(self, ref: TextRef) -> dict[str, str | None]:
        """The texts (each of `TEXT_KEYS`, None where the object has none). Raises TextSpoolError."""
        try:
            data = json.loads(self.raw(ref).decode("utf-8", "surrogatepass"))
        except ValueError as exc:  # a file changed or cut under the run: JSON or UTF-8 fails
            raise _changed(ref, exc) from None
        if not isinstance(data, dict):
            raise TextSpoolError(f"{ref.file}, byte {ref.offset}: not a sample's texts (not a JSON object)")
        return {key: data.get(key) for key in TEXT_KEYS}

    def fragments(self, ref: TextRef) -> tuple[bytes, ...] | None:
        """Each text's JSON as the line holds it (UTF-8, lone surrogates as "surrogatepass" writes them), in
        `TEXT_KEYS` order; None where the ref does not say where they lie. Raises TextSpoolError."""
        if ref.parts is None:
            return None
        raw = self.raw(ref)
        out, at = [], 0
        for frame, size in zip(_FRAMES, ref.parts):
            if not raw.startswith(frame, at):
                raise _changed(ref, "its texts are not where the spool put them")
            at += len(frame)
            out.append(raw[at:at + size])
            at += size
        if raw[at:] != _END:
            raise _changed(ref, "its texts are not where the spool put them")
        return tuple(out)


def _changed(ref: TextRef, why: object) -> TextSpoolError:
    return TextSpoolError(f"{ref.file}, byte {ref.offset}: not a sample's texts ({why}); the file was "
                          "changed after it was written: rerun")


class TextSpool:
    """One process's append-only spool file (made 0600: it holds clinical text). Not thread-safe: one writer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._name = str(path)  # one string shared by every sample's TextRef, not one each
        self._fd: int | None = None
        self._end = 0  # the file's size: where the next object starts

    def put(self, texts: Mapping[str, str | None]) -> TextRef:
        """Appends the texts (one JSON line) and says where they lie. Raises TextSpoolError naming the file."""
        # json.dumps of the dict of the texts, byte for byte, built from each text's JSON so its length is known
        fragments = [json.dumps(texts.get(k), ensure_ascii=False).encode("utf-8", "surrogatepass") for k in TEXT_KEYS]
        data = b"".join(part for pair in zip(_FRAMES, fragments) for part in pair) + _END + b"\n"
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
        prompt = texts.get("prompt")
        return TextRef(self._name, start, len(data) - 1, tuple(map(len, fragments)),  # type: ignore[arg-type]
                       len(prompt) if isinstance(prompt, str) else None)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
