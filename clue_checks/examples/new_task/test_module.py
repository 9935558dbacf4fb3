"""The task "__NAME__": one test per record of __NAME__.jsonl, id `__NAME__:<id>`."""

import pytest

pytestmark = pytest.mark.clue_task(path="__NAME__.toml")


def test_sample(clue_sample):
    clue_sample.check()
