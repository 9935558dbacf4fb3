"""A shell block of the docs run as a user pastes it, with `pytest` and `clue` command lines in this process.

A plain command line (words, `NAME=value` prefixes, `cd DIR`, parts joined by `&&`, nothing a shell expands)
runs here: `pytest` through pytester's in-process run (a fresh session; sys.modules and sys.path restored after
it, as tests/suite_runs.py runs the suite), `clue` through clue_checks.cli.main (tests/clue_command.py), `cd`
as the folder the next lines run from, each variable set for its own line only. `-n N` stays in this process
too: xdist's workers are processes of their own either way. A plain `clue serve-baseline ... &` serves from a
thread of this process until the block ends, which stops it as Ctrl-C does (KeyboardInterrupt in that thread;
tests/server/test_baseline_server.py stops the command as a process, with SIGTERM); another line ending in `&`
starts its program in the background until the block ends. Everything else (`python3 -m venv`,
`. .venv/bin/activate`, `pip`, pipes, redirections, globs) runs in bash from the block's folder: what needs a
shell gets one. What such a line does to its own shell (an activated virtualenv) ends with it; later lines'
`pytest` is this environment's either way, as it was in the shell, where the new virtualenv has no pytest of
its own.
"""

from __future__ import annotations

import ctypes
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from clue_command import clue

from clue_checks.cli import main

OPERATORS = frozenset("();<>|&")
EXPANDS = re.compile(r"[$`*?~\\]")  # variables, substitutions, globs, escapes: a shell's job
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
IN_PROCESS = ("pytest", "clue", "cd")
IN_A_THREAD = ("clue", "serve-baseline")  # reads no folder: it serves beside this process's tests


def in_a_thread(command: str) -> bool:
    """Whether a background line (`... &`) runs in a thread of this process rather than a process of its own."""
    parts = plain_parts(command.removesuffix("&").strip()) if command.endswith("&") else None
    return parts is not None and len(parts) == 1 and not parts[0][0] and tuple(parts[0][1][:2]) == IN_A_THREAD


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
    threads: list[tuple[threading.Thread, list[int]]] = field(default_factory=list)  # with the exit code once done

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
        if in_a_thread(command + " &"):
            return self._serve_in_a_thread(command)
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

    def _serve_in_a_thread(self, command: str) -> tuple[int, str]:
        words = plain_parts(command)[0][1]
        code: list[int] = []
        thread = threading.Thread(target=lambda: code.append(_exit_code(words[1:])), name=command, daemon=True)
        thread.start()
        self.threads.append((thread, code))
        port = int(re.search(r"--port (\d+)", command).group(1))
        deadline = time.monotonic() + 60  # a hang guard, not a timing claim
        while thread.is_alive() and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return 0, ""
            except OSError:
                time.sleep(0.01)
        return code[0] if code else 1, f"{command}: nothing answered on port {port}\n"

    def close(self) -> None:
        """Stops what the block left running: Ctrl-C for a server in a thread, SIGTERM for a process."""
        for thread, _ in self.threads:
            _interrupt_in_its_wait(thread)
        stopped = [(thread.join(timeout=10), thread.name, code) for thread, code in self.threads]
        self.threads.clear()
        for process in self.background:
            process.terminate()
        for process in self.background:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.background.clear()
        for _, name, code in stopped:  # the command's own stop on Ctrl-C: the server closed, exit status 0
            status = code[0] if code else "none: still running, or ended by an exception"
            assert code == [0], f"{name}: did not stop on Ctrl-C (exit status {status})"


def _interrupt_in_its_wait(thread: threading.Thread) -> None:
    """Ctrl-C for a thread: KeyboardInterrupt raised in it once it waits in `clue serve-baseline`'s loop (the port
    answers a moment before: an interrupt there would end the command before its `finally` stops the server)."""
    deadline = time.monotonic() + 10  # a hang guard, not a timing claim
    while thread.is_alive() and time.monotonic() < deadline:
        if [f.f_code.co_name for f in _callers(sys._current_frames().get(thread.ident))][:3] == [
                "wait", "wait", "_serve_baseline"]:
            break  # blocked in the loop's `done.wait(...)` (Event.wait -> Condition.wait)
        time.sleep(0.01)
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(KeyboardInterrupt))


def _callers(frame: types.FrameType | None) -> Iterator[types.FrameType]:
    while frame is not None:
        yield frame
        frame = frame.f_back


def _exit_code(args: list[str]) -> int:
    try:
        return main(args)
    except SystemExit as exc:  # argparse's usage errors
        return exc.code if isinstance(exc.code, int) else 1
