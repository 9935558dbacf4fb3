"""Download the public CLUE data sets (MeQSum, LongHealth) into the layout ``--clue-data`` reads.

The table :data:`PUBLIC` (datasets.py) is the one place that says what is fetched from where. Files land at the
same relative paths as in CLUE's ``data/`` folder, so ``--clue-data=<dest>`` works afterwards.

A mirror (``base_urls``) serves that same relative path under another base URL, e.g.
``https://mirror.example/clue`` serves ``https://mirror.example/clue/MeQSum/MeQSum_...xlsx``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import httpx2

from clue_checks.data.datasets import CREDENTIALED, PUBLIC, Dataset
from clue_checks.data.modes import as_created
from clue_checks.errors import ClueError, ConfigError

__all__ = ["CREDENTIALED", "PUBLIC", "Dataset", "FetchError", "FetchResult", "UsageError", "fetch", "file_sha256"]


_ALIASES = {"probsum": "problemsummary"}

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0  # per read, not for the whole file
_CHUNK = 1 << 16
_HELP = "see docs/data.md"


class FetchError(ClueError):
    """A download that failed or could not be verified; the message says what to do."""


class UsageError(FetchError, ConfigError):
    """A name that cannot be fetched, or a malformed pin: nothing was downloaded."""


@dataclass(frozen=True)
class FetchResult:
    name: str
    path: Path
    url: str  # where it came from; for a skipped file, where it would have come from
    sha256: str
    size: int
    status: Literal["downloaded", "skipped"]
    verified: bool  # sha256 matched a pinned value; False only when none is pinned


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _resolve(names: Iterable[str]) -> list[Dataset]:
    """All names are checked before anything is downloaded, so a typo costs no traffic."""
    datasets: list[Dataset] = []
    for raw in names:
        name = _ALIASES.get(raw.lower(), raw.lower())
        if name in CREDENTIALED:
            raise UsageError(
                f"{raw!r} cannot be fetched: {CREDENTIALED[name]}. Credentialed sets need your own PhysioNet "
                f"account, CITI training and the signed data use agreement; download them with your own "
                f"credentials ({_HELP}). Public sets: {', '.join(PUBLIC)}."
            )
        if name not in PUBLIC:
            raise UsageError(
                f"unknown data set {raw!r}. Public sets that can be fetched: {', '.join(PUBLIC)}. "
                f"Not fetchable (PhysioNet credentialed): MedNLI, Problem Summary, MeDiSumQA; "
                f"MeDiSumCode must be generated locally ({_HELP})."
            )
        if PUBLIC[name] not in datasets:
            datasets.append(PUBLIC[name])
    return datasets


def _expected(datasets: list[Dataset], overrides: Mapping[str, str]) -> dict[str, str | None]:
    expected: dict[str, str | None] = {d.name: d.sha256 for d in datasets}
    for raw, value in overrides.items():
        name = _ALIASES.get(raw.lower(), raw.lower())
        hexdigest = value.strip().lower()
        if len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest):
            raise UsageError(f"--sha256 {raw}={value}: a sha256 is 64 hex digits")
        if name not in PUBLIC:
            raise UsageError(f"--sha256 names {raw!r}, which is not a public set ({', '.join(PUBLIC)})")
        expected[name] = hexdigest
    return expected


def _looks_like_html(content_type: str, head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return "text/html" in content_type.lower() or start.startswith((b"<!doctype html", b"<html"))


def _make_folders(folder: Path, created: list[Path]) -> None:
    """Create `folder` and its missing parents, noting each one created (outermost first) in `created`."""
    for path in [*folder.parents][::-1] + [folder]:
        if path.is_dir():
            continue
        if path.exists():
            raise FetchError(f"cannot create the folder {path}: a file of that name is in the way. Move it, or "
                             f"choose another --dest.")
        try:
            path.mkdir()
        except FileExistsError:
            if path.is_dir():  # made meanwhile by someone else: not ours to remove
                continue
            raise FetchError(f"cannot create the folder {path}: a file of that name is in the way") from None
        except OSError as exc:
            raise FetchError(f"cannot create the folder {path}: {exc.strerror or exc}. Choose a --dest you can "
                             f"write to.") from None
        created.append(path)


def _remove_empty(created: list[Path]) -> None:
    """A failed fetch leaves no empty folder behind that it made itself (innermost first)."""
    for path in reversed(created):
        try:
            path.rmdir()  # only succeeds while empty: a folder holding a fetched file stays
        except OSError:
            pass


def _too_big(url: str, cap: int, seen: str) -> FetchError:
    return FetchError(f"{url} is larger than the pinned file ({cap:,} bytes): {seen}; stopped there, nothing was "
                      f"written. The file upstream may have changed or the URL serves something else: check the "
                      f"source, --ref or --mirror.")


def _download(client: httpx2.Client, url: str, target: Path, cap: int | None = None) -> tuple[Path, str, int]:
    """Stream `url` into a temporary file next to `target` (whose folder exists); return (temp path, sha256,
    size). `cap`: the pinned file's size; a body announcing or reaching more is stopped there."""
    handle = _part_file(target)
    part = Path(handle.name)
    try:
        as_created(part)  # a download is readable as any file the user writes (tempfile makes it 0600)
        with handle:
            digest, size = _stream_into(handle, client, url, cap)
            handle.flush()
            os.fsync(handle.fileno())
        if size == 0:
            raise FetchError(f"{url} returned an empty body. Check the URL, --ref or --mirror.")
        return part, digest, size
    except httpx2.TimeoutException as exc:
        part.unlink(missing_ok=True)
        raise FetchError(
            f"timed out fetching {url} ({type(exc).__name__}; connect limit {CONNECT_TIMEOUT_S:g} s, "
            f"{READ_TIMEOUT_S:g} s per read). Check the network or proxy (HTTPS_PROXY), or pass --mirror URL."
        ) from exc
    except httpx2.TransportError as exc:
        part.unlink(missing_ok=True)
        raise FetchError(
            f"cannot fetch {url}: {type(exc).__name__}: {exc or 'connection failed'}. Check that the host is "
            f"reachable (network, proxy via HTTPS_PROXY), or pass --mirror URL."
        ) from exc
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _part_file(target: Path) -> IO[bytes]:
    """A new temporary file in `target`'s folder, so the final os.replace is an atomic rename on one file system."""
    try:
        return tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=".part",
                                           delete=False)
    except OSError as exc:
        raise FetchError(f"cannot write into {target.parent}: {exc.strerror or exc}. Choose a --dest you can "
                         f"write to.") from None


def _stream_into(out: IO[bytes], client: httpx2.Client, url: str, cap: int | None) -> tuple[str, int]:
    """Write the body of GET `url` to `out`; return (sha256, size). Refused: an HTTP error, an HTML page,
    a body over `cap`."""
    digest, size, head = hashlib.sha256(), 0, b""
    with client.stream("GET", url) as response:
        if response.status_code >= 400:
            raise FetchError(
                f"{url} answered HTTP {response.status_code} {response.reason_phrase}. "
                f"Check the URL: a moved file, a wrong --ref or a wrong --mirror gives 404."
            )
        content_type = response.headers.get("content-type", "")
        announced = response.headers.get("content-length", "")
        if cap is not None and announced.isdigit() and int(announced) > cap:
            raise _too_big(url, cap, f"it announces {int(announced):,} bytes")
        for chunk in response.iter_bytes(_CHUNK):
            if len(head) < 512:
                head += chunk[: 512 - len(head)]
                # Checked early: an HTML page is never the data, whatever its size.
                if _looks_like_html(content_type, head):
                    raise FetchError(
                        f"{url} returned an HTML page, not the data file. GitHub /blob/ URLs serve "
                        f"HTML pages (the bug in CLUE's download_datasets.sh); use the "
                        f"raw.githubusercontent.com URL or a mirror serving the raw file."
                    )
            digest.update(chunk)
            size += len(chunk)
            if cap is not None and size > cap:
                raise _too_big(url, cap, f"more than {cap:,} bytes arrived")
            out.write(chunk)
    return digest.hexdigest(), size


def fetch(
    names: Iterable[str],
    dest: Path,
    *,
    base_urls: Mapping[str, str] | None = None,
    expected_sha256: Mapping[str, str] | None = None,
    refs: Mapping[str, str] | None = None,
    transport: httpx2.BaseTransport | None = None,
    force: bool = False,
    on_result: Callable[[FetchResult], None] | None = None,
) -> list[FetchResult]:
    """Fetch public data sets into `dest` (the folder later passed as ``--clue-data``).

    base_urls: per-name mirror base; the set's relative path is appended (refs are then ignored).
    expected_sha256: per-name pins; they override the table. refs: per-name git ref (branch or commit).
    transport: for tests. force: download even when a verified file is present.
    on_result: called as each file finishes, so a caller can report progress before a later failure.
    Raises UsageError for bad names or pins, FetchError for failed or unverifiable downloads.
    """
    datasets = _resolve(names)
    expected = _expected(datasets, expected_sha256 or {})
    base_urls, refs = dict(base_urls or {}), dict(refs or {})
    results: list[FetchResult] = []
    created: list[Path] = []  # folders this call made: removed again, if still empty, when it fails
    timeout = httpx2.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    try:
        with httpx2.Client(timeout=timeout, follow_redirects=True, transport=transport) as client:
            for dataset in datasets:
                url = dataset.source_url(refs.get(dataset.name), base_urls.get(dataset.name))
                result = _fetch_one(client, dataset, url, dest / dataset.path, expected[dataset.name], force, created)
                results.append(result)
                if on_result is not None:
                    on_result(result)
    except BaseException:
        _remove_empty(created)
        raise
    return results


def _fetch_one(client: httpx2.Client, dataset: Dataset, url: str, target: Path, want: str | None, force: bool,
               created: list[Path]) -> FetchResult:
    """One file: kept when present and verified (or unpinned), else downloaded; folders made are noted."""
    if target.is_file() and not force:
        have = file_sha256(target)
        if want is None or have == want:
            # Unpinned: keep the file rather than re-download on every run; --force replaces it.
            return FetchResult(dataset.name, target, url, have, target.stat().st_size, "skipped", want is not None)
        # A present file with the wrong hash (e.g. an HTML page from CLUE's script) is replaced.
    _make_folders(target.parent, created)
    # The table's pin comes with the file's size: a body past it is not the file, whatever follows.
    cap = dataset.size if dataset.size and want == dataset.sha256 else None
    part, have, size = _download(client, url, target, cap)
    if want is not None and have != want:
        part.unlink(missing_ok=True)
        size_note = f"{size:,} bytes"
        if dataset.size and want == dataset.sha256 and size != dataset.size:
            size_note += f", expected {dataset.size:,}"
        raise FetchError(
            f"sha256 mismatch for {url}: expected {want}, got {have} ({size_note}). Nothing was written. "
            f"The file upstream may have changed or the download was corrupted: retry, check the "
            f"source, and if you trust the new file pin it with --sha256 {dataset.name}={have}."
        )
    os.replace(part, target)
    return FetchResult(dataset.name, target, url, have, size, "downloaded", want is not None)
