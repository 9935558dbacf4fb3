"""A shell block of the docs run as a user pastes it, with `pytest` and `clue` command lines in this process.

A plain command line (words, `NAME=value` prefixes, `cd DIR`, parts joined by `&&`, nothing a shell expands)
runs here: `pytest` through pytester's in-process run (a fresh session; sys.modules and sys.path restored after
it, as tests/suite_runs.py runs the suite), `clue` through clue_checks.cli.main (tests/clue_command.py), `cd`
as the folder the next lines run from, each variable set for its own line only. `-n N` stays in this process
too: xdist's workers are processes of their own either way. A plain line ending in `&` starts its program in
the background until the block ends. Everything else (`python3 -m venv`, `. .venv/bin/activate`, `pip`,
pipes, redirections, globs) runs in bash from the block's folder: what needs a shell gets one. What such a
line does to its own shell (an activated virtualenv) ends with it; later lines' `pytest` is this
environment's either way, as it was in the shell, where the new virtualenv has no pytest of its own.
"""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from clue_command import clue

OPERATORS = frozenset("();<>|&")
EXPANDS = re.compile(r"[$`*?~\\]")  # variables, substitutions, globs, escapes: a shell's job
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
IN_PROCESS = ("pytest", "clue", "cd")


def plain_parts(command: str) -> list[tuple[dict[str, str], list[str]]] | None:
    """The `&&`-joined parts of a plain command line as (variables, words); None where it needs a shell."""
    if EXPANDS.search(command):
        return None
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    parts: list[list[str]] = [[]]
    for token in lexer:
        if token == "&&":
            parts.append([])
        elif set(token) <= OPERATORS:
            return None
        else:
            parts[-1].append(token)
    out = []
    for words in parts:
        variables = {}
        while words and ASSIGNMENT.match(words[0]):
            name, _, value = words.pop(0).partition("=")
            variables[name] = value
        if not words or words[0] not in IN_PROCESS or (words[0] == "cd" and (variables or len(words) != 2)):
            return None
        out.append((variables, words))
    return out


@dataclass
class Block:
    """One block's commands, run in order from `cwd`; `env` is what a shell line or background program gets."""

    pytester: pytest.Pytester
    cwd: Path
    env: dict[str, str]
    background: list[subprocess.Popen] = field(default_factory=list)

    def run(self, command: str) -> tuple[int, str]:
        """(exit status, what it printed) of one command line."""
        if command.endswith("&"):
            return self._start_in_background(command[:-1].strip())
        parts = plain_parts(command)
        if parts is None:
            done = subprocess.run(["bash", "-c", command], cwd=self.cwd, env=self.env, capture_output=True,
                                  text=True, timeout=900)
            return done.returncode, done.stdout + done.stderr
        output = ""
        for variables, words in parts:
            code, printed = self._in_process(variables, words)
            output += printed
            if code != 0:
                return code, output
        return 0, output

    def _in_process(self, variables: dict[str, str], words: list[str]) -> tuple[int, str]:
        if words[0] == "cd":
            self.cwd = self.cwd / words[1]
            return (0, "") if self.cwd.is_dir() else (1, f"cd: {words[1]}: No such file or directory\n")
        if words[0] == "clue":
            with pytest.MonkeyPatch.context() as mp:
                for name, value in variables.items():
                    mp.setenv(name, value)
                done = clue(*words[1:], cwd=self.cwd)
            return done.returncode, done.stdout + done.stderr
        with pytest.MonkeyPatch.context() as mp:
            for name, value in variables.items():
                mp.setenv(name, value)
            mp.chdir(self.cwd)
            result = self.pytester.runpytest_inprocess(*words[1:])
        return int(result.ret), "\n".join(result.outlines + result.errlines)

    def _start_in_background(self, command: str) -> tuple[int, str]:
        """The program started and left running (stopped by `close`) once its `--port` answers."""
        parts = plain_parts(command)
        if parts is not None and len(parts) == 1 and not parts[0][0] and parts[0][1][0] != "cd":
            words = parts[0][1]
            argv = [shutil.which(words[0], path=self.env["PATH"]) or words[0], *words[1:]]
        else:
            argv = ["bash", "-c", command]
        process = subprocess.Popen(argv, cwd=self.cwd, env=self.env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        self.background.append(process)
        port = int(re.search(r"--port (\d+)", command).group(1))
        deadline = time.monotonic() + 60  # a hang guard, not a timing claim
        while process.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return 0, ""
            except OSError:
                time.sleep(0.05)
        return 1, f"{command}: nothing answered on port {port}\n{process.stderr.read() if process.poll() else ''}"

    def close(self) -> None:
        for process in self.background:
            process.terminate()
        for process in self.background:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.background.clear()
