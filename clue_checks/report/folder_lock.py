"""One run at a time writes a report folder: a second run on the same folder is refused in one line.

Two runs sharing a --clue-report-dir would clear and replace each other's report, each believing the
folder its own. The run that will write a report holds an advisory lock (`flock`) on
`<report-dir>/.clue-report.lock` until it ends; the system releases it when the process dies, so a
killed run leaves nothing to clean up. A second run finds it held and stops before it clears
anything. Where `fcntl` is missing (Windows) no lock is taken.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clue_checks.errors import ReportError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".clue-report.lock"


class FolderBusy(ReportError):
    """Another run holds the report folder. One line: the folder, who holds it, the fix."""


class FolderLock:
    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Hold the folder, or raise FolderBusy. Holding it twice is holding it once."""
        if self._fd is not None or fcntl is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise FolderBusy(f"clue-checks: another run ({holder}) is writing its report into {self.path.parent}; "
                             f"wait for it to finish, or give this run its own --clue-report-dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


_HELD = pytest.StashKey[FolderLock]()


def hold(config: pytest.Config, directory: Path, returncode: int) -> None:
    """This session writes `directory`: hold it until the session ends, or exit with the one line."""
    if _HELD not in config.stash:
        config.stash[_HELD] = FolderLock(directory)
        config.add_cleanup(config.stash[_HELD].release)
    try:
        config.stash[_HELD].acquire()
    except FolderBusy as exc:
        pytest.exit(str(exc), returncode=returncode)
