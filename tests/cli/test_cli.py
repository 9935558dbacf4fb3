"""The `clue` command's first-contact behaviour: --version, and one line (exit 2) when serve-baseline
cannot listen."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import clue_command
import pytest

from clue_checks import __version__
from clue_checks.cli import main

REPO = Path(__file__).resolve().parents[2]


def clue(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "clue_checks.cli", *args], capture_output=True, text=True,
                          env=env, timeout=60)


@pytest.fixture()
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"clue-checks {__version__}\n"


@pytest.mark.slow
def test_the_module_runs_as_the_clue_command() -> None:
    done = clue("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"clue-checks {__version__}"


def test_serve_baseline_on_a_busy_port_is_one_line_and_exit_2(busy_port: int) -> None:
    done = clue_command.clue("serve-baseline", "--port", str(busy_port))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"clue serve-baseline: error: port {busy_port} on 127.0.0.1 is already in use")
    assert "--port 0" in done.stderr


def test_serve_baseline_on_an_address_not_of_this_machine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve-baseline", "--host", "192.0.2.1", "--port", "0"]) == 2  # TEST-NET-1: never local
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot listen on 192.0.2.1:0" in err and "--host" in err
