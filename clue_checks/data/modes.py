"""Files we write through a temporary file get the mode a plain `open()` would give them.

`tempfile` creates files with mode 0600 whatever the umask, so a fetched data file or a parsed copy
renamed into place would be readable by its owner only (others sharing a data folder could not read
it). `as_created` gives such a file 0666 less the user's umask, as any other download.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    current = os.umask(0o022)  # elsewhere: read by setting it, then put it back at once
    os.umask(current)
    return current


def as_created(path: Path) -> None:
    """Give `path` the mode a newly created ordinary file gets under the user's umask."""
    os.chmod(path, 0o666 & ~umask())
