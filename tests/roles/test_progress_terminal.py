"""The live progress line under a real terminal emulator (tmux), at 80, 120 and 200 columns without `-n` and
at 80 and 200 with it: pytest's own lines must come out exactly as pytest wrote them.

Each run goes to a fake chat server that is slow to answer some samples (four requests at a time) so those
samples wait for their answers and the live line is drawn again and again (a mode's widths run at once, each in its
own tmux server, sharing that server; a canned answer, not the embedded baseline, whose answers to 80
LongHealth prompts cost more than the run: the terminal is the point); the raw bytes tmux received show that
it was, and the final screen (the whole history, wrapped lines joined) must hold every test's letter once on
pytest's lines and no remnant of the live line.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakes import FakeServer
from suite_runs import chat_server, ok

from clue_checks.runner import BASELINE_TOKENIZER

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None,
                                 reason="tmux is not installed (apt-get install tmux; .ci/run installs it)")]

# 45 + 80 samples: result lines longer than 80 columns (30 + 45 + 7) and 120 (37 + 80 + 7), wrapped at 80 and 120
TASKS, LIMIT = "mednli,longhealth-t1", 80
SAMPLES = 45 + 80
RESULT_LINE = re.compile(r"^(?:tests_clinical/test_\w+\.py )?([.FEsx]+) *\[ *\d+%\]$")
LIVE_LINE = "\x1b[1A"  # the live line returns the cursor up to pytest's line after drawing below it


@dataclass(frozen=True)
class TmuxRun:
    """One pytest run in its own tmux server, started and not yet waited for."""

    session: str
    raw: Path
    done: Path


def _start_in_tmux(folder: Path, width: int, args: list[str]) -> TmuxRun:
    """pytest started in a detached tmux pane `width` columns wide, the bytes it writes recorded to a file."""
    folder.mkdir()
    run = TmuxRun(f"clue-progress-{os.getpid()}-{width}-{len(args)}", folder / "raw.bin", folder / "done")
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX", "CI", "GITHUB_ACTIONS")}
    command = (f"cd {shlex.quote(str(root))} && {shlex.quote(sys.executable)} -m pytest "
               + " ".join(shlex.quote(a) for a in args) + f"; touch {shlex.quote(str(run.done))}; sleep 600")
    subprocess.run(["tmux", "-L", run.session, "new-session", "-d", "-s", run.session, "-x", str(width), "-y", "40",
                    "bash", "--norc", "--noprofile", "-c", command], check=True, env=env)
    subprocess.run(["tmux", "-L", run.session, "pipe-pane", "-o", "-t", run.session,
                    f"cat >> {shlex.quote(str(run.raw))}"], check=True)
    return run


def _finish(run: TmuxRun) -> tuple[str, bytes]:
    """(the screen's whole history as text, the raw bytes the terminal received) once pytest has ended."""
    deadline = time.monotonic() + 300  # a hang guard, not a timing claim
    while not run.done.exists():
        if time.monotonic() > deadline:
            pytest.fail("the pytest run in tmux did not finish")
        time.sleep(0.2)
    time.sleep(0.3)  # tmux draws what the pane wrote last
    screen = subprocess.run(["tmux", "-L", run.session, "capture-pane", "-p", "-J", "-S", "-", "-E", "-",
                             "-t", run.session], check=True, capture_output=True, text=True).stdout
    return screen, run.raw.read_bytes() if run.raw.exists() else b""


def _slow_answer(body, count):
    # A single process draws the line only while a sample has waited 0.2 s for its answer (sent up to eight
    # samples ahead, the earlier the busier the machine): one sample in 20 or so, the same in every run,
    # waits 0.8 s; the others none.
    if zlib.crc32(body["messages"][-1]["content"].encode()) % 20 == 0:
        time.sleep(0.8)
    return ok("A")


@pytest.fixture(scope="module")
def slow_server():
    with FakeServer(chat_server(_slow_answer)) as server:
        yield server


# Under -n, pytest's lines are letters alone, broken where the terminal ends: 120 columns breaks them as 80 does.
@pytest.mark.parametrize(("xdist", "widths"), [(False, (80, 120, 200)), (True, (80, 200))], ids=["single", "n2"])
def test_pytest_lines_are_intact_under_the_live_line(tmp_path, slow_server, xdist, widths):
    runs: dict[int, TmuxRun] = {}
    try:
        for width in widths:  # at once: each run mostly waits for its answers
            args = ["-p", "no:cacheprovider", f"--model-endpoint={slow_server.url}", f"--clue-tasks={TASKS}",
                    f"--clue-limit={LIMIT}", "--clue-no-cache", "--clue-concurrency=4",
                    f"--clue-tokenizer={BASELINE_TOKENIZER}",  # LongHealth packs its documents to a token budget
                    f"--clue-report-dir={tmp_path / f'report-{width}'}", "--tb=no", "-rN", "-o", "addopts="]
            runs[width] = _start_in_tmux(tmp_path / str(width), width, args + (["-n", "2"] if xdist else []))
        screens = {width: _finish(run) for width, run in runs.items()}
    finally:
        for run in runs.values():
            subprocess.run(["tmux", "-L", run.session, "kill-server"], check=False, capture_output=True)
    for width, (screen, raw) in screens.items():
        _check_screen(width, screen, raw)


def _check_screen(width: int, screen: str, raw: bytes) -> None:
    assert LIVE_LINE.encode() in raw and b"clue: " in raw, f"the live line was never drawn at {width}:\n" + screen
    lines = screen.splitlines()
    letters = "".join(m.group(1) for m in map(RESULT_LINE.match, lines) if m)
    assert len(letters) == SAMPLES, f"pytest's result lines were garbled at {width}:\n" + screen
    leftovers = [line for line in lines if "clue: " in line and "samples" in line]
    assert not leftovers, f"the live line was left on screen at {width}:\n" + screen
    assert any(line.startswith("verdict: ") for line in lines), screen
    for line in lines:
        assert len(line) <= width or not RESULT_LINE.match(line), line
