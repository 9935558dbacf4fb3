import pytest

pytestmark = pytest.mark.clue_task(path="followup.toml")


def test_sample(clue_sample):
    clue_sample.check()
