"""The `clue` command run in this process: its exit code and what it printed, as a finished process reports them.

For tests of what a command does; starting `python -m clue_checks.cli` is left to the tests of the command
as an installed program.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

from clue_checks.cli import main


def clue(*args: str, cwd: Path | str | None = None) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    before = os.getcwd()
    try:
        os.chdir(cwd or before)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = _exit_code(args)
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess(["clue", *args], code, out.getvalue(), err.getvalue())


def _exit_code(args: tuple[str, ...]) -> int:
    try:
        return main(list(args))
    except SystemExit as exc:  # argparse's usage errors and --version; sys.exit("message") as Python exits
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
