"""Every shell command in the README and the documentation site is either run here or listed as not runnable
with the reason.

Commands are the lines of ```sh blocks (a trailing `# comment` dropped) and the `$ ` lines of ```console
blocks. `COMMANDS` classifies each one: run as written, run in another spelling that says why, or not run and
why. A command added to the docs and missing here fails `test_every_command_in_the_docs_is_classified`.

Runnable commands run block by block, in the docs' order, in one scratch copy of the suite, as a user pastes
them: `pytest` and `clue` command lines in this process, what needs a shell in bash (tests/pasted_blocks.py
says which is which), with these substitutions only: a model host (`http://tgi-host:8080`, `...`, the
walkthrough's fixed ports) becomes an embedded baseline on a free loopback port; `/data/clue` the bundled
fixtures, and `data/clue` a folder holding only the two public sets (what `clue data fetch meqsum longhealth`
leaves); each `pytest` run scores at most three samples per task (`--clue-limit=3`) and starts at most two of
xdist's workers (`-n 4` becomes `-n 2`: two already split the samples, each a process of its own) to keep the
test short. A block that opens another (the README's four model lines open docs/models.md's block) runs as the
opening of that block, in one test named after both: each line runs once, in the order a reader pastes it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakes import copy_suite
from pasted_blocks import Block, in_a_thread, plain_parts

from clue_checks.server import BaselineServer

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "clue_checks" / "fixtures"
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
USER_HOME = os.environ.get("HOME", "")  # before pytester points HOME at its folder: a reader's commands run in theirs

RUN = "run"
INSTALLS = "not run: installs packages into the active environment; .ci/run does so in a fresh virtualenv"
SUITE = "not run: the framework's own test suite (a test cannot run the suite it is part of); .ci/run runs it"

#: command as written -> RUN, "run: <the spelling that runs, and why>", or "not run: <why>"
COMMANDS: dict[str, str] = {
    # README
    # the new environment's pip is never used here (`pip install -e .` is not run); .ci/run makes one with pip
    "python3 -m venv .venv && . .venv/bin/activate": "run: python3 -m venv --without-pip .venv && . .venv/bin/activate",
    "pip install -e .": INSTALLS,
    "pip install -e . && pytest": "run: pytest",  # the package is installed already: the main job
    'pip install torch==2.13.0 -e ".[test,serving,bertscore]" && pytest tests -n 2': SUITE,
    "pytest --model-endpoint=http://tgi-host:8080": RUN,
    "pytest --model-endpoint=http://vllm-host:8000": RUN,
    "pytest --model-endpoint=http://a:8080 --model-endpoint=http://b:8080": RUN,
    "pytest --model-endpoint=... --clue-data=/data/clue -n 4": RUN,
    'pytest "tests_clinical/test_meqsum.py::test_sample[meqsum:15302.txt]"': RUN,
    "pytest --lf": RUN,
    "pytest --lf --tb=long": RUN,
    # docs/install.md
    "pytest --clue-tasks=mednli --clue-limit=5": RUN,
    "pip install torch --index-url https://download.pytorch.org/whl/cpu":
        "not run: downloads torch from PyTorch's own index (no network in tests)",
    'pip install -e ".[bertscore]"': INSTALLS,
    "pip wheel --no-deps -w dist .": RUN,
    "python3 -m venv /tmp/clue-env && /tmp/clue-env/bin/pip install dist/clue_checks-*.whl":
        "not run: installs the wheel's dependencies from the package index into a new environment (minutes); "
        "the wheel's contents and `clue init` are tested in tests/cli/test_init_cli.py",
    "/tmp/clue-env/bin/clue init /tmp/clue-suite": "run: clue init clue-suite",  # the environment of this test
    "cd /tmp/clue-suite && /tmp/clue-env/bin/pytest --clue-tasks=mednli --clue-limit=5":
        "run: cd clue-suite && pytest --clue-tasks=mednli --clue-limit=5",
    # docs/models.md
    'pytest --model-endpoint=... "tests_clinical/test_meqsum.py::test_sample[meqsum:15302.txt]"': RUN,
    "pytest --model-endpoint=... --lf": RUN,
    # docs/data.md
    "clue data fetch meqsum longhealth --dest data/clue":
        "not run: downloads from GitHub (tests/datasets/test_fetch.py runs `clue data fetch` against a local mirror)",
    "pytest --model-endpoint=... --clue-data=data/clue": RUN,
    # docs/ci.md
    "GITHUB_STEP_SUMMARY=summary.md pytest --clue-exit=gates --clue-tasks=mednli": RUN,
    # docs/baseline-comparison.md
    "clue compare runs/base-7b runs/med-7b runs/med-7b-v2":
        "not run: names three report folders of the reader's own runs; the walkthrough's `clue compare "
        "base-report clue-report` (docs/embedded-baseline.md) runs",
    "clue power --task mednli --drop 0.02 --discordance 0.10": RUN,
    # docs/development.md
    "bash .ci/run": "not run: CI itself (a fresh virtualenv, the main job, the whole test suite)",
    "pytest tests -n 2": SUITE,
    # docs/embedded-baseline.md (the walkthrough)
    "clue serve-baseline --port 8081 &": RUN,
    "clue serve-baseline --variant finetune-degraded --port 8082 &": RUN,
    "pytest --model-endpoint=http://127.0.0.1:8081 --clue-report-dir=base-report": RUN,
    "pytest --model-endpoint=http://127.0.0.1:8082 --clue-baseline=base-report": RUN,
    "clue compare base-report clue-report": RUN,
    "pytest --model-endpoint=http://127.0.0.1:8082 --clue-select=broke": RUN,
    # docs/own-tasks.md (run in the folder of the page's task files: tests/journeys/test_task_e2e.py runs these steps)
    "pytest --clue-report-dir=base": "not run: tests/journeys/test_task_e2e.py runs the page's task files against the "
                                     "embedded baseline the same way",
    "pytest --model-endpoint=http://tgi:8080 --clue-baseline=base --clue-report-dir=new --clue-exit=gates":
        "not run: tests/journeys/test_task_e2e.py runs it with a second embedded server in place of the TGI host",
    "clue compare base new": "not run: tests/journeys/test_task_e2e.py runs it on the two report folders it made",
    # docs/triage.md
    "clue report html clue-report": RUN,
    "pytest --clue-baseline-variant=finetune-degraded": RUN,
    "pytest --clue-baseline-variant=finetune-degraded --clue-kind=truncated": RUN,
}


def _strip_comment(line: str) -> str:
    return re.sub(r"\s+#\s.*$", "", line).strip()


def blocks(page: Path) -> list[list[str]]:
    """The commands of each shell block of `page`, in order."""
    out: list[list[str]] = []
    current: list[str] | None = None
    console = False
    for line in page.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            if current is None and stripped in ("```sh", "```console"):
                current, console = [], stripped == "```console"
            elif current is not None:
                out.append(current)
                current = None
            continue
        if current is None:
            continue
        if console:
            if stripped.startswith("$ "):
                current.append(_strip_comment(stripped[2:]))
        elif stripped and not stripped.startswith("#"):
            current.append(_strip_comment(stripped))
    return [b for b in out if b]


def all_commands() -> list[tuple[Path, int, list[str]]]:
    return [(page, i, block) for page in PAGES for i, block in enumerate(blocks(page))]


def runs() -> list[tuple[str, list[str]]]:
    """(name, commands) of each block to run, in the docs' order: a block that is the opening of a longer one
    runs as part of the longest block it opens, at its own place, named `page-index+page-index`."""
    found = all_commands()
    out: dict[tuple[str, ...], list[str]] = {}
    for page, i, block in found:
        host = max((b for _, _, b in found if b[:len(block)] == block), key=len)
        out.setdefault(tuple(host), []).append(f"{page.name}-{i}")
    return [("+".join(names), list(host)) for host, names in out.items()]


def test_each_block_runs_once_as_itself_or_as_the_opening_of_a_longer_one():
    named = {name: block for names, block in runs() for name in names.split("+")}
    assert sorted(named) == sorted(f"{page.name}-{i}" for page, i, _ in all_commands())
    for page, i, block in all_commands():
        assert named[f"{page.name}-{i}"][:len(block)] == block, f"{page.name}-{i}"
    assert "README.md-3+models.md-0" in dict(runs())  # models.md repeats the README's four model lines


def test_every_command_in_the_docs_is_classified():
    found = {command for _, _, block in all_commands() for command in block}
    assert found - set(COMMANDS) == set(), "commands in the docs that no test runs or lists as not runnable"
    assert set(COMMANDS) - found == set(), "classified commands no longer in the docs"
    for command, how in COMMANDS.items():
        assert how == RUN or how.startswith(("run: ", "not run: ")), command


def test_the_readme_keeps_its_two_commands_exactly():
    readme = {command for command in blocks(REPO / "README.md")[1] + blocks(REPO / "README.md")[2]}
    assert readme == {"pip install -e . && pytest",
                      'pip install torch==2.13.0 -e ".[test,serving,bertscore]" && pytest tests -n 2'}


def test_only_plain_pytest_and_clue_lines_run_in_this_process():
    """Which lines run in this process and which in a shell; and the one background line served from a thread."""
    assert plain_parts("GITHUB_STEP_SUMMARY=summary.md pytest --clue-exit=gates") == [
        ({"GITHUB_STEP_SUMMARY": "summary.md"}, ["pytest", "--clue-exit=gates"])]
    assert plain_parts('cd suite && pytest "tests_clinical/t.py::test_sample[a:1.txt]"') == [
        ({}, ["cd", "suite"]), ({}, ["pytest", "tests_clinical/t.py::test_sample[a:1.txt]"])]
    for needs_a_shell in ("python3 -m venv .venv && . .venv/bin/activate", "pip wheel --no-deps -w dist .",
                          "pytest -q > /dev/null", "pytest | tail", "clue serve-baseline --port 8081 &",
                          "pytest dist/*.whl", "pytest $ARGS", "cd a b", "X=1 cd a", "pytest; clue power"):
        assert plain_parts(needs_a_shell) is None, needs_a_shell
    assert in_a_thread("clue serve-baseline --variant finetune-degraded --port 8082 &")
    for own_process in ("clue serve-baseline --port 8081", "X=1 clue serve-baseline --port 8081 &",
                        "clue compare a b &", "python -m http.server 8000 &", "cd a && clue serve-baseline &"):
        assert not in_a_thread(own_process), own_process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_run(command: str, url: str, ports: dict[str, int], public_only: Path) -> str | None:
    how = COMMANDS[command]
    if how.startswith("not run: "):
        return None
    if how.startswith("run: "):
        command = how[len("run: "):]
    for fixed, port in ports.items():
        command = command.replace(f"--port {fixed}", f"--port {port}").replace(f"127.0.0.1:{fixed}",
                                                                               f"127.0.0.1:{port}")
    command = re.sub(r"http://(tgi-host|vllm-host|a|b):\d+|(?<==)\.\.\.", url, command)
    command = command.replace("=/data/clue", f"={FIXTURES}").replace("=data/clue", f"={public_only}")
    command = re.sub(r"(?<=\s-n )4\b", "2", command)
    if re.search(r"(^|&& )pytest\b", command) and "--clue-limit" not in command and "tests_clinical/" not in command:
        command += " --clue-limit=3"
    return command


@dataclass(frozen=True)
class Scratch:
    """What the blocks of this module share, in the docs' order: one copy of the suite (its answer store,
    `--lf` record and report folders carry from block to block, as for a reader who pastes them in one
    folder), one embedded baseline for the model hosts, one folder of the public sets."""

    suite: Path
    url: str
    public_only: Path


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("docs-commands")
    for folder in ("MeQSum", "LongHealth"):
        shutil.copytree(FIXTURES / folder, root / "public-data" / folder)
    (root / "work").mkdir()
    copy_suite(root / "work")
    with BaselineServer() as server:
        yield Scratch(root / "work", server.url, root / "public-data")


def _script(block: list[str], scratch: Scratch, tmp_path: Path) -> list[str]:
    """The block's runnable commands as they run here (see the module's docstring)."""
    ports = {"8081": _free_port(), "8082": _free_port()}
    script = [c for c in (_as_run(c, scratch.url, ports, scratch.public_only) for c in block) if c is not None]
    if any(c.startswith("clue report html clue-report") for c in block):  # a report to rebuild the page of
        script.insert(0, "pytest --clue-tasks=mednli --clue-limit=3 -q")
    if any(c.startswith("pip wheel") for c in block):  # built from a copy of this repository, into tmp_path
        script = [c.replace("-w dist", f"-w {tmp_path / 'dist'}") for c in script]
        script = [c.replace("clue init clue-suite", f"clue init {tmp_path / 'clue-suite'}")
                  .replace("cd clue-suite", f"cd {tmp_path / 'clue-suite'}") for c in script]
    return script


def _folder(block: list[str], scratch: Scratch, tmp_path: Path) -> Path:
    if not any(c.startswith("pip wheel") for c in block):
        return scratch.suite
    clone = tmp_path / "clone"  # `pip wheel .` builds a copy of this repository
    shutil.copytree(REPO, clone, ignore=shutil.ignore_patterns(
        ".git", ".venv", "site", ".clue-cache", "clue-report", "build", "dist", "*.egg-info", "__pycache__",
        ".pytest_cache", ".hypothesis", "bench"))
    return clone


def _starts_a_process(block: list[str]) -> bool:
    """Whether a line of the block runs in bash, as a background program or with xdist's workers (marked
    `slow`); a background `clue serve-baseline` serves from a thread of this process."""
    spelled = [COMMANDS[c][len("run: "):] if COMMANDS[c].startswith("run: ") else c
               for c in block if COMMANDS.get(c, RUN) == RUN or COMMANDS[c].startswith("run: ")]
    return any((not in_a_thread(c) and (c.endswith("&") or plain_parts(c) is None))
               or re.search(r"\s-n\s*[1-9]", c) for c in spelled)


@pytest.mark.parametrize("block", [
    pytest.param(block, marks=[pytest.mark.slow] if _starts_a_process(block) else [], id=name)
    for name, block in runs()])
def test_the_runnable_commands_of_each_block_run(block, scratch, pytester, monkeypatch, tmp_path, request):
    script = _script(block, scratch, tmp_path)
    if not script:
        pytest.skip(f"no runnable command in this block: {block}")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.setenv("HOME", USER_HOME)  # caches under it (matplotlib's fonts) are there, as for the reader
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    folder = _folder(block, scratch, tmp_path)
    session = Block(pytester, folder, env)
    try:
        for command in script:
            code, output = session.run(command)
            # pytest exits 1 when a sample (the baseline fails many) or a gate fails: a command "works" when it
            # runs to its report; anything else (2: could not run, 4: usage error, 5: nothing collected) fails.
            assert code <= 1, f"{request.node.callspec.id}: FAILED ({code}): {command}\n{output[-4000:]}"
    finally:
        session.close()
    if "GITHUB_STEP_SUMMARY=summary.md" in "\n".join(block):
        assert (folder / "summary.md").read_text().startswith("## CLUE report: ")
