"""A run's private folder (private_folder.py): held while its run lives, removed by a later run once it is not."""

from __future__ import annotations

import os
import stat

import pytest

from clue_checks.private_folder import LOCK_NAME, PREFIX, PrivateFolder, sweep

fcntl = pytest.importorskip("fcntl")


def left_by_a_dead_run(parent, name="dead", text="a prompt"):
    """A folder as a killed run leaves it: its spool and a lock file that no process holds."""
    folder = parent / f"{PREFIX}{name}"
    folder.mkdir(mode=0o700)
    (folder / "main.texts").write_text(text)
    (folder / LOCK_NAME).write_text("")
    return folder


def test_a_new_folder_is_private_and_held(tmp_path):
    made = PrivateFolder.make(tmp_path)
    try:
        assert made.path.parent == tmp_path and made.path.name.startswith(PREFIX)
        assert stat.S_IMODE(made.path.stat().st_mode) == 0o700
        assert sorted(p.name for p in made.path.iterdir()) == [LOCK_NAME]
        fd = os.open(made.path / LOCK_NAME, os.O_RDWR)  # another open file: flock sees another holder
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    finally:
        made.remove()
    assert not made.path.exists()


def test_a_new_run_removes_the_folders_of_dead_runs_and_keeps_the_living(tmp_path):
    dead = left_by_a_dead_run(tmp_path)
    living = PrivateFolder.make(tmp_path)
    assert not dead.exists(), "a folder whose lock nobody holds is a dead run's"
    try:
        later = PrivateFolder.make(tmp_path)
        assert living.path.exists(), "a held folder belongs to a run that is still going"
        later.remove()
    finally:
        living.remove()


def test_folders_that_are_not_a_runs_are_left_alone(tmp_path):
    no_lock = tmp_path / f"{PREFIX}starting"  # made by mkdtemp a moment ago, its lock not yet named
    no_lock.mkdir()
    other = tmp_path / "clue-report-dead"
    other.mkdir()
    (other / LOCK_NAME).write_text("")
    a_file = tmp_path / f"{PREFIX}file"
    a_file.write_text("")
    assert sweep(tmp_path) == []
    assert no_lock.exists() and other.exists() and a_file.exists()


def test_sweeping_removes_only_what_it_can_lock(tmp_path):
    dead = left_by_a_dead_run(tmp_path, "one")
    held = left_by_a_dead_run(tmp_path, "two")
    fd = os.open(held / LOCK_NAME, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert sweep(tmp_path) == [dead]
        assert held.exists() and (held / "main.texts").read_text() == "a prompt"
    finally:
        os.close(fd)
    assert sweep(tmp_path) == [held]


def test_a_missing_temporary_directory_sweeps_nothing(tmp_path):
    assert sweep(tmp_path / "gone") == []
