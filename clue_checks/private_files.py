"""Clinical text stays out of version control by default: folders that hold it ignore themselves.

As pytest's `.pytest_cache` does, the response store's folder (prompts and answers) gets a `.gitignore`
of `*`, and a report folder one naming the parts that quote samples (`predictions/`, `index.html`),
so `git add -A` in a project stages neither; the JSON and Markdown reports (ids, counts, metrics) stay
trackable. A `.gitignore` already there is the user's and is left alone; none is written through a
symbolic link.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

HEADER = ("# Written by clue-checks: these files hold clinical text (prompts, answers, references).\n"
          "# Commit them only where the data's licence allows it (git add -f).\n")


def ignore_in_git(folder: Path, patterns: Sequence[str]) -> None:
    """`folder/.gitignore` with `patterns`, unless one exists; a folder that cannot take it is left as it is."""
    path = folder / ".gitignore"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError:  # there already (the user's, or ours), or the folder is not writable: its own message later
        return
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(HEADER + "".join(f"{p}\n" for p in patterns))


def ignore_cache(folder: Path) -> None:
    ignore_in_git(folder, ["*"])


def ignore_report_parts(folder: Path) -> None:
    ignore_in_git(folder, ["predictions/", "index.html", ".clue-report.lock"])
