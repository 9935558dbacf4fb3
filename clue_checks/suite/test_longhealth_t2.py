"""LongHealth task 2: one test per prompt, id `longhealth-t2:<patient>/q<NN>/r<k>`; passes when CLUE's strict parser finds the right letter."""

import pytest

pytestmark = pytest.mark.clue_task("longhealth-t2")


def test_sample(clue_sample):
    clue_sample.check()
