"""Clinical text stays out of git by default: the cache folder and the report's sample-quoting parts
ignore themselves; a user's own .gitignore is kept; files keep the user's umask."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from clue_checks.endpoint.store import ResponseStore
from clue_checks.private_files import ignore_cache, ignore_report_parts
from clue_checks.report.build import RunFacts, build_report
from clue_checks.report.folder_lock import FolderLock
from clue_checks.report.write.folder import write_files
from suite_runs import run, suite  # noqa: F401  (suite is a fixture)

pytest_plugins = ["pytester"]


def test_the_cache_folder_ignores_itself(tmp_path: Path) -> None:
    ResponseStore(tmp_path / ".clue-cache" / "responses.sqlite3").close()
    assert (tmp_path / ".clue-cache" / ".gitignore").read_text().splitlines()[-1] == "*"


def test_a_users_gitignore_is_left_alone_and_links_are_not_followed(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / ".gitignore").write_text("only-mine\n")
    ignore_report_parts(tmp_path / "mine")
    assert (tmp_path / "mine" / ".gitignore").read_text() == "only-mine\n"
    (tmp_path / "linked").mkdir()
    (tmp_path / "elsewhere").write_text("x\n")
    (tmp_path / "linked" / ".gitignore").symlink_to(tmp_path / "elsewhere")
    ignore_cache(tmp_path / "linked")
    assert (tmp_path / "elsewhere").read_text() == "x\n"


def test_store_and_report_files_keep_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        paths = write_files(tmp_path / "r", build_report([], RunFacts({}, {}, ())))
        ResponseStore(tmp_path / "c" / "responses.sqlite3").close()
    finally:
        os.umask(old)
    paths += [tmp_path / "c" / "responses.sqlite3", tmp_path / "c" / ".gitignore", tmp_path / "r" / ".gitignore"]
    assert all(p.stat().st_mode & 0o777 == 0o640 for p in paths), [oct(p.stat().st_mode) for p in paths]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_add_all_stages_no_clinical_text(tmp_path: Path) -> None:
    ResponseStore(tmp_path / ".clue-cache" / "responses.sqlite3").close()
    report = tmp_path / "clue-report"
    (report / "predictions").mkdir(parents=True)
    (report / "predictions" / "mednli.jsonl").write_text("{}\n")
    (report / "index.html").write_text("<html></html>")
    (report / "clue-report.json").write_text("{}")
    ignore_report_parts(report)
    git = ["git", "-c", "user.email=a@b", "-c", "user.name=a", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    staged = subprocess.run([*git, "add", "-A", "--dry-run"], check=True, capture_output=True, text=True).stdout
    assert "clue-report.json" in staged
    assert not any(name in staged for name in ("responses.sqlite3", "mednli.jsonl", "index.html")), staged


def test_a_second_holder_of_a_report_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    from clue_checks.report.folder_lock import FolderBusy, FolderLock

    first, second = FolderLock(tmp_path / "r"), FolderLock(tmp_path / "r")
    first.acquire()
    first.acquire()  # holding twice is holding once
    with pytest.raises(FolderBusy) as caught:
        second.acquire()
    message = str(caught.value)
    assert "\n" not in message and f"pid {os.getpid()}" in message and "--clue-report-dir" in message
    first.release()
    second.acquire()  # free again once the first run ends
    second.release()


def test_two_runs_on_one_report_folder_the_second_is_refused(suite: pytest.Pytester) -> None:
    """A run holding the folder makes a second run stop before it clears the folder or sends anything. The
    holder here is this process: an flock is held per open of the lock file, so the run (in this process too)
    finds it held exactly as it finds another process's."""
    (suite.path / "clue-report").mkdir()
    (suite.path / "clue-report" / "clue-report.json").write_text('{"earlier": true}')
    holder = FolderLock(suite.path / "clue-report")
    holder.acquire()
    try:
        second = run(suite, "--clue-tasks=mednli", "--clue-limit=2", "--clue-no-cache")
    finally:
        holder.release()
    output = second.stdout.str() + second.stderr.str()
    lines = [line for line in output.splitlines() if "another run" in line]
    assert second.ret != 0 and len(lines) == 1 and "--clue-report-dir" in lines[0], output[-2000:]
    assert (suite.path / "clue-report" / "clue-report.json").read_text() == '{"earlier": true}'
