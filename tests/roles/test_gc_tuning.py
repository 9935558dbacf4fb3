"""A CLUE session collects cyclic garbage less often, and gives the collector back as it found it."""

from __future__ import annotations

import gc

import pytest

from clue_checks.roles.gc_tuning import RUN_THRESHOLD0, tune_for_run


@pytest.fixture
def thresholds():
    found = gc.get_threshold()
    yield
    gc.set_threshold(*found)


@pytest.mark.parametrize("found", [(700, 10, 10), (2_000, 5, 7)])
def test_the_young_threshold_is_raised_for_the_run_and_restored(thresholds, found):
    gc.set_threshold(*found)
    restore = tune_for_run()
    assert gc.get_threshold() == (RUN_THRESHOLD0, *found[1:])
    restore()
    assert gc.get_threshold() == found


def test_a_higher_threshold_set_by_the_user_is_kept(thresholds):
    gc.set_threshold(10 * RUN_THRESHOLD0, 10, 10)
    restore = tune_for_run()
    assert gc.get_threshold() == (10 * RUN_THRESHOLD0, 10, 10)
    restore()
    assert gc.get_threshold() == (10 * RUN_THRESHOLD0, 10, 10)
