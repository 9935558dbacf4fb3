"""A run's private folder for clinical text (its text spools), removed by a later run if its own run died.

The folder is made by `tempfile.mkdtemp` (mode 0700) and removed when its run ends. A run killed with
SIGKILL (or by the out-of-memory killer, or a power cut) cannot remove it, and its spools hold every
prompt and answer of the run so far. So the run that owns a folder holds an advisory lock (`flock`) on
`.owner.lock` inside it for as long as it lives; the system releases that lock when the process dies,
however it dies. A run that makes a new folder removes every folder of this kind (the same prefix, the
same user, the same temporary directory) whose lock it can take: its owner is gone.

The lock file is locked before it is given its name, so a folder is never seen with a lock nobody holds
while its run is starting; a folder without the lock file (being made at that moment, or left by an older
version) is left alone. Where `fcntl` is missing (Windows) nothing is locked and nothing is swept.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

PREFIX = "clue-records-"
LOCK_NAME = ".owner.lock"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class PrivateFolder:
    """A folder only this user can open, held by this process until `remove`."""

    def __init__(self, path: Path, lock_fd: int | None) -> None:
        self.path = path
        self._lock_fd = lock_fd

    @classmethod
    def make(cls, parent: Path | None = None) -> "PrivateFolder":
        """A new folder in `parent` (default: the temporary directory), held; then the dead runs' folders go."""
        path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
        lock_fd = _hold(path) if fcntl is not None else None
        sweep(path.parent, keep=path)
        return cls(path, lock_fd)

    def remove(self) -> None:
        """Remove the folder and everything in it, then let go of it (removing it while still held)."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _hold(path: Path) -> int:
    """Lock a new file, then name it LOCK_NAME: whoever sees the name finds it locked."""
    staging = path / f"{LOCK_NAME}.{os.getpid()}"
    fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a file nobody else has opened: taken at once
    os.rename(staging, path / LOCK_NAME)
    return fd


def sweep(parent: Path, keep: Path | None = None) -> list[Path]:
    """Remove this user's private folders in `parent` whose run is gone (their lock can be taken); returns them.
    A folder that cannot be read, is held, or has no lock file is left as it is."""
    if fcntl is None:
        return []
    removed = []
    try:
        entries = [e for e in os.scandir(parent) if e.name.startswith(PREFIX)]
    except OSError:
        return []
    for entry in entries:
        path = Path(entry.path)
        if path == keep or not _ours(entry):
            continue
        try:
            fd = os.open(path / LOCK_NAME, os.O_RDWR | _NOFOLLOW)
        except OSError:
            continue  # no lock file: being made now, or not one of ours
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # its run is alive
        try:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        finally:
            os.close(fd)
    return removed


def _ours(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_uid == os.getuid()
    except OSError:
        return False
