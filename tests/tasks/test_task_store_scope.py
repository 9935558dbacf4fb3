"""A task file's identity is part of every response-store key of its requests; CLUE's keys never change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import clue_checks
from clue_checks.endpoint.types import EndpointIdentity, GenerationParams, Message, Request, request_key
from clue_checks.tasks import TASKS, get_profile
from clue_checks.tasks.file_task import load_task_file

EXAMPLE = Path(clue_checks.__file__).parent / "examples" / "followup"
pytest_plugins = ["pytester"]


def test_an_unscoped_requests_key_is_the_one_every_earlier_store_holds():
    # Keys computed before scopes existed: a store written then must still answer the same requests.
    chat = Request("chat", GenerationParams(5, ("\n",)), messages=(Message("user", "Is it? ünï"),))
    generate = Request("generate", GenerationParams(7, (), 100), prompt="abc")
    assert request_key(EndpointIdentity("tgi", "m", "r1"), chat) == \
        "cb33ebca7572855a932b7c4dd7be407ed18bf78d65a85905162ccdd2958fa39e"
    assert request_key(EndpointIdentity("openai", "m", None), generate) == \
        "f10587547b19ad6389072d609e5f99077dbb2661753919967a06a9628a2a11c6"


def test_a_scope_changes_the_key_and_nothing_that_is_sent():
    identity = EndpointIdentity("tgi", "m", "r1")
    plain = Request("generate", GenerationParams(7), prompt="abc")
    scoped = Request("generate", GenerationParams(7), prompt="abc", scope="task-file:1")
    other = Request("generate", GenerationParams(7), prompt="abc", scope="task-file:2")
    assert len({request_key(identity, r) for r in (plain, scoped, other)}) == 3
    assert scoped.canonical() == plain.canonical()  # the body the server gets is built from these fields


def test_clues_tasks_have_no_scope_and_a_task_files_task_has_its_files_identity():
    profile = get_profile("paper")
    assert all(cls(profile).request_scope == "" for cls in TASKS.values())
    task = load_task_file(EXAMPLE / "followup.toml")(profile)
    assert task.request_scope == f"task-file:{task.identity}" and len(task.identity) == 64


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    for name in ("followup.toml", "followup.csv", "test_followup.py"):
        shutil.copy(EXAMPLE / name, pytester.path / name)
    return pytester


def sent(project: pytest.Pytester) -> int:
    # In this process: the task file is read again on each run (pytester restores sys.modules between runs).
    project.runpytest_inprocess("-p", "no:cacheprovider", "--clue-report-dir=rep", "--clue-cache=cache")
    return json.loads((project.path / "rep" / "clue-report.json").read_text())["requests"]["sent"]


def test_an_unchanged_task_file_is_answered_from_the_store_and_an_edited_one_is_asked_again(project):
    toml = project.path / "followup.toml"
    assert sent(project) == 10
    assert sent(project) == 0  # nothing edited: every answer from the store
    # The parser's choices change no request body, but could change what the stored answer means.
    toml.write_text(toml.read_text().replace('choices = ["yes", "no"]', 'choices = ["no", "yes"]'), encoding="utf-8")
    assert sent(project) == 10
    toml.write_text(toml.read_text().replace("max_new_tokens = 5", "max_new_tokens = 6"), encoding="utf-8")
    assert sent(project) == 10
