"""MedNLI: one test per scored pair, id `mednli:<pairID>`; passes when the gold label is named exactly once."""

import pytest

pytestmark = pytest.mark.clue_task("mednli")


def test_sample(clue_sample):
    clue_sample.check()
