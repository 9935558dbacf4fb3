"""LongHealth task 3: one test per prompt, id `longhealth-t3:<patient>/q<NN>/r<k>`; passes when CLUE's strict parser finds the right letter."""

import pytest

pytestmark = pytest.mark.clue_task("longhealth-t3")


def test_sample(clue_sample):
    clue_sample.check()
