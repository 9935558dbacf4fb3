"""MeDiSumCode: one test per discharge letter, id `medisumcode:<hadm_id>`; passes when a gold ICD-10 code is found exactly (or per the floors)."""

import pytest

pytestmark = pytest.mark.clue_task("medisumcode")


def test_sample(clue_sample):
    clue_sample.check()
