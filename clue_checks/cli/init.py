"""`clue init [DIR]`: write the CLUE suite into a project, for users who installed clue-checks with pip.

The wheel carries the suite (`clue_checks/suite/`: one thin pytest module per task and a commented
thresholds file) and the synthetic fixtures, so the written suite runs at once on the fixtures
against the embedded baseline, and on the real data with `--clue-data`.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import resources
from pathlib import Path

from clue_checks.errors import ConfigError

SUITE_DIR = "tests_clinical"

# The pytest configuration `clue init` writes. Every clue_* key is also a command-line option.
PYTEST_INI = """\
# The CLUE clinical benchmark as a pytest suite (clue-checks), written by `clue init`.
#   pytest                                      every task on the bundled synthetic fixtures, against
#                                               the embedded baseline model (scores mean nothing clinically)
#   pytest --model-endpoint=URL --clue-data=DIR your model on the real CLUE data
# Each clue_* key below is also a command-line option: `pytest --help`, group "clue-checks".
[pytest]
testpaths = tests_clinical
clue_thresholds = thresholds.toml
clue_report_dir = clue-report
clue_cache = .clue-cache
# The data folder, laid out like CLUE's data/ (`clue data fetch` gets the public sets); without it the
# bundled synthetic fixtures are used.
# clue_data = /path/to/clue-data
# The model server (TGI, vLLM, transformers serve, any OpenAI-compatible server); without it, the
# embedded baseline. A key goes in the CLUE_API_KEY environment variable, never here.
# clue_model_endpoint = http://tgi-host:8080
# The exact weights served (e.g. the release tag): part of every stored answer's key.
# clue_model_revision = v1.0.0
# Release CI: the exit code is the gates' verdict.
# clue_exit = gates
"""


class InitError(ConfigError):
    """`clue init` cannot write the suite; the message says why and what to do."""


def suite_files() -> dict[str, bytes]:
    """Everything `clue init` writes: path relative to DIR -> content. The modules and the thresholds
    file come from the package's `suite/` folder, the one source the repository's suite is copied from."""
    source = resources.files("clue_checks").joinpath("suite")
    modules = sorted((entry for entry in source.iterdir()
                      if entry.name.startswith("test_") and entry.name.endswith(".py")), key=lambda e: e.name)
    files = {f"{SUITE_DIR}/{entry.name}": entry.read_bytes() for entry in modules}
    files["thresholds.toml"] = source.joinpath("thresholds.toml").read_bytes()
    files["pytest.ini"] = PYTEST_INI.encode("utf-8")
    return files


def write_suite(dest: Path, *, force: bool = False) -> list[Path]:
    """Write the suite into `dest` (created if missing); the paths written, in order.

    Nothing is written when any target exists and `force` is false, so a refused run changes nothing.
    """
    return write_files(dest, suite_files(), force=force)


def task_files(name: str) -> dict[str, bytes]:
    """What `clue init --task NAME` writes: a commented task file, a placeholder data file and the test module."""
    from clue_checks.tasks.taskfile import NAME

    if not NAME.match(name):
        raise InitError(f"task name {name!r}: use lower-case letters, digits, '-' and '_', starting with a letter")
    source = resources.files("clue_checks").joinpath("examples", "new_task")
    read = lambda entry: source.joinpath(entry).read_text(encoding="utf-8").replace("__NAME__", name)  # noqa: E731
    return {f"{name}.toml": read("task.toml").encode("utf-8"), f"{name}.jsonl": read("data.jsonl").encode("utf-8"),
            f"test_{name.replace('-', '_')}.py": read("test_module.py").encode("utf-8")}


def write_files(dest: Path, files: dict[str, bytes], *, force: bool = False) -> list[Path]:
    """Write `files` (path relative to `dest` -> content); nothing when one exists and `force` is false."""
    if dest.exists() and not dest.is_dir():
        raise InitError(f"{dest} is a file, not a folder: name a folder (it is created if missing)")
    links = _links(dest, files)
    if links:  # --force or not: a link would write outside the folder, into whatever it points at
        raise InitError(f"{', '.join(links)} in {dest} is a symbolic link; nothing was written. clue init never "
                        "writes through a link: remove it, or name another folder")
    existing = [rel for rel in files if (dest / rel).exists()]
    if existing and not force:
        raise InitError(f"{dest} already has {', '.join(existing)}; nothing was written. "
                        "Pass --force to overwrite them, or name another folder")
    written = []
    for rel, content in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_no_follow(path, content)
        written.append(path)
    return written


def _links(dest: Path, files: dict[str, bytes]) -> list[str]:
    """Targets, and folders on the way to them inside `dest`, that are symbolic links (also dangling ones)."""
    found: dict[str, None] = {}
    for rel in files:
        parts = Path(rel).parts
        for depth in range(1, len(parts) + 1):
            inside = Path(*parts[:depth])
            if (dest / inside).is_symlink():
                found[inside.as_posix()] = None
    return list(found)


def _write_no_follow(path: Path, content: bytes) -> None:
    """Write `path`, refusing a symbolic link created there meanwhile (O_NOFOLLOW)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o666)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)


def _write_listed(dest: Path, files: dict[str, bytes], force: bool, what: str) -> list[Path] | None:
    """Write `files` into `dest` and list what was written; None, with the message printed, when nothing was."""
    try:
        written = write_files(dest, files, force=force)
    except InitError as exc:
        print(f"clue init: {exc}", file=sys.stderr)
        return None
    except OSError as exc:
        print(f"clue init: cannot write into {dest}: {exc.strerror or exc}", file=sys.stderr)
        return None
    print(f"wrote {what} into {dest.resolve()}:")
    for path in written:
        print(f"  {path.relative_to(dest).as_posix()}")
    return written


def _init_task(dest: Path, name: str, force: bool) -> int:
    try:
        files = task_files(name)
    except InitError as exc:
        print(f"clue init: {exc}", file=sys.stderr)
        return 1
    written = _write_listed(dest, files, force, f"the task {name!r}")
    if written is None:
        return 1
    print(f"next: replace {name}.jsonl with your data, edit {name}.toml (docs/own-tasks.md), then\n"
          f"  pytest {dest / written[-1].name}")
    return 0


def _init(args: argparse.Namespace) -> int:
    dest = Path(args.dir).expanduser()
    if args.task is not None:
        return _init_task(dest, args.task, args.force)
    if _write_listed(dest, suite_files(), args.force, "the CLUE suite") is None:
        return 1
    go = "" if dest.resolve() == Path.cwd().resolve() else f"cd {dest} && "
    print("next:\n"
          f"  {go}pytest                                        # synthetic fixtures, embedded baseline model\n"
          f"  {go}pytest --model-endpoint=URL --clue-data=DIR   # your model on the real CLUE data")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "init",
        help="write the CLUE suite (task modules, pytest.ini, thresholds.toml) into a folder",
        description="Write the CLUE suite into DIR: tests_clinical/ (one pytest module per task), a pytest.ini "
                    "with the clue_* keys and a commented thresholds.toml. It runs at once on the bundled "
                    "synthetic fixtures against the embedded baseline; give --model-endpoint and --clue-data "
                    "for a real run.",
    )
    parser.add_argument("dir", nargs="?", default=".", metavar="DIR",
                        help="folder to write into, created if missing (default: the current folder)")
    parser.add_argument("--force", action="store_true", help="overwrite files that already exist")
    parser.add_argument("--task", metavar="NAME", default=None,
                        help="instead of the CLUE suite, write a task of your own into DIR: a commented NAME.toml, "
                             "a placeholder NAME.jsonl and its test module test_NAME.py (docs/own-tasks.md)")
    parser.set_defaults(func=_init)
