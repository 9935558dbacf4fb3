"""LongHealth task 1: one test per prompt, id `longhealth-t1:<patient>/q<NN>/r<k>`; passes when CLUE's strict parser finds the right letter."""

import pytest

pytestmark = pytest.mark.clue_task("longhealth-t1")


def test_sample(clue_sample):
    clue_sample.check()
