"""The live progress line under a real terminal emulator (tmux), at 80, 120 and 200 columns, with and
without `-n`: pytest's own lines must come out exactly as pytest wrote them.

Each run goes to a slow embedded baseline (a latency per answer, four requests at a time) so samples
wait for their answers and the live line is drawn many times; the raw bytes tmux received show that it
was, and the final screen (the whole history, wrapped lines joined) must hold every test's letter once
on pytest's lines and no remnant of the live line.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clue_checks.server import BaselineServer

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None,
                                 reason="tmux is not installed (apt-get install tmux; .ci/run installs it)")]

TASKS = "mednli,longhealth-t1"  # 45 + 120 samples: result lines longer than 80 columns, wrapped at 80 and 120
SAMPLES = 45 + 120
RESULT_LINE = re.compile(r"^(?:tests_clinical/test_\w+\.py )?([.FEsx]+) *\[ *\d+%\]$")
LIVE_LINE = "\x1b[1A"  # the live line returns the cursor up to pytest's line after drawing below it


def _run_in_tmux(tmp_path: Path, width: int, args: list[str]) -> tuple[str, bytes]:
    """(the screen's whole history as text, the raw bytes the terminal received) of one pytest run."""
    session = f"clue-progress-{os.getpid()}-{width}-{len(args)}"
    raw = tmp_path / f"raw-{width}.bin"
    done = tmp_path / f"done-{width}"
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX", "CI", "GITHUB_ACTIONS")}
    command = (f"cd {shlex.quote(str(root))} && {shlex.quote(sys.executable)} -m pytest "
               + " ".join(shlex.quote(a) for a in args) + f"; touch {shlex.quote(str(done))}; sleep 600")
    subprocess.run(["tmux", "-L", session, "new-session", "-d", "-s", session, "-x", str(width), "-y", "40",
                    "bash", "--norc", "--noprofile", "-c", command], check=True, env=env)
    try:
        subprocess.run(["tmux", "-L", session, "pipe-pane", "-o", "-t", session, f"cat >> {shlex.quote(str(raw))}"],
                       check=True)
        deadline = time.monotonic() + 300  # a hang guard, not a timing claim
        while not done.exists():
            if time.monotonic() > deadline:
                pytest.fail("the pytest run in tmux did not finish")
            time.sleep(0.2)
        time.sleep(0.3)  # tmux draws what the pane wrote last
        screen = subprocess.run(["tmux", "-L", session, "capture-pane", "-p", "-J", "-S", "-", "-E", "-",
                                 "-t", session], check=True, capture_output=True, text=True).stdout
    finally:
        subprocess.run(["tmux", "-L", session, "kill-server"], check=False, capture_output=True)
    return screen, raw.read_bytes() if raw.exists() else b""


@pytest.fixture(scope="module")
def slow_server():
    with BaselineServer(latency_s=0.4, max_concurrent_requests=64) as server:
        yield server


@pytest.mark.parametrize("xdist", [False, True], ids=["single", "n2"])
@pytest.mark.parametrize("width", [80, 120, 200])
def test_pytest_lines_are_intact_under_the_live_line(tmp_path, slow_server, width, xdist):
    args = ["-p", "no:cacheprovider", f"--model-endpoint={slow_server.url}", f"--clue-tasks={TASKS}", "--clue-no-cache",
            "--clue-concurrency=4", f"--clue-report-dir={tmp_path / 'report'}", "--tb=no", "-rN", "-o", "addopts="]
    if xdist:
        args += ["-n", "2"]
    screen, raw = _run_in_tmux(tmp_path, width, args)
    assert LIVE_LINE.encode() in raw and b"clue: " in raw, "the live line was never drawn:\n" + screen
    lines = screen.splitlines()
    letters = "".join(m.group(1) for m in map(RESULT_LINE.match, lines) if m)
    assert len(letters) == SAMPLES, "pytest's result lines were garbled:\n" + screen
    leftovers = [line for line in lines if "clue: " in line and "samples" in line]
    assert not leftovers, "the live line was left on screen:\n" + screen
    assert any(line.startswith("verdict: ") for line in lines), screen
    for line in lines:
        assert len(line) <= width or not RESULT_LINE.match(line), line
