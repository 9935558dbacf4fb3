"""MeQSum: one test per inquiry, id `meqsum:<File>`; passes when ROUGE-L F reaches the per-sample floor."""

import pytest

pytestmark = pytest.mark.clue_task("meqsum")


def test_sample(clue_sample):
    clue_sample.check()
