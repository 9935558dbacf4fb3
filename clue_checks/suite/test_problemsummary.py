"""Problem Summary: one test per progress note, id `problemsummary:<File ID>`; passes when ROUGE-L F reaches the floor."""

import pytest

pytestmark = pytest.mark.clue_task("problemsummary")


def test_sample(clue_sample):
    clue_sample.check()
