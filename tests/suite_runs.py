"""Runs of the real suite (tests_clinical/) in a scratch folder, shared by the tests that run it.

`run` runs it in this process; `run_as_user` starts pytest as a user does, for what needs a process of its
own (xdist's workers, signals, a terminal).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import copy_suite

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "clue_checks" / "fixtures"  # the bundled synthetic data
MEDNLI_META = {"object": "list", "data": [{"id": "fake/model", "object": "model", "owned_by": "vllm",
                                           "max_model_len": 4096}]}

@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A copy of the benchmark suite and its config in a scratch folder."""
    copy_suite(pytester.path)
    (pytester.path / "conftest.py").write_text("")
    return pytester


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    """The suite run in this process: what a run prints, writes and returns, without starting Python again."""
    return suite.runpytest_inprocess(f"--clue-data={FIXTURES}", "-p", "no:randomly", *args)


def run_as_user(suite: pytest.Pytester, *args: str, timeout: float = 300) -> pytest.RunResult:
    """The suite run as a user runs it, in a new process: for xdist's workers and signals."""
    return suite.runpytest_subprocess(f"--clue-data={FIXTURES}", "-p", "no:randomly", *args, timeout=timeout)


def report(suite: pytest.Pytester, folder: str = "clue-report") -> dict:
    return json.loads((suite.path / folder / "clue-report.json").read_text())


def chat_server(answer):
    def handler(method, path, body, count):
        if path == "/health":
            return 200, {}, b""
        if path == "/info":
            return 404, {}, {"error": "not found"}
        if path == "/v1/models":
            return 200, {}, MEDNLI_META
        if path == "/v1/chat/completions":
            return answer(body, count)
        return 404, {}, {"error": "not found"}
    return handler


def ok(text):
    return 200, {}, {"choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                  "finish_reason": "stop"}], "usage": {"completion_tokens": 1}}
