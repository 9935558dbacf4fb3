"""A CLUE session collects cyclic garbage less often and over less, and gives the collector back as it found it."""

from __future__ import annotations

import gc
import weakref

import pytest

from clue_checks.roles.gc_tuning import RUN_THRESHOLD0, RunCollector


@pytest.fixture
def collector_state():
    found = gc.get_threshold()
    yield
    gc.set_threshold(*found)
    gc.unfreeze()


class Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.mark.parametrize("found", [(700, 10, 10), (2_000, 5, 7)])
def test_the_young_threshold_is_raised_for_the_run_and_restored(collector_state, found):
    gc.set_threshold(*found)
    collector = RunCollector()
    assert gc.get_threshold() == (RUN_THRESHOLD0, *found[1:])
    collector.restore()
    assert gc.get_threshold() == found


def test_a_higher_threshold_set_by_the_user_is_kept(collector_state):
    gc.set_threshold(10 * RUN_THRESHOLD0, 10, 10)
    collector = RunCollector()
    assert gc.get_threshold() == (10 * RUN_THRESHOLD0, 10, 10)
    collector.restore()
    assert gc.get_threshold() == (10 * RUN_THRESHOLD0, 10, 10)


def test_frozen_objects_are_left_out_of_collections_until_the_session_ends(collector_state):
    collector = RunCollector()
    alive_then = Cycle()
    probe = weakref.ref(alive_then)
    collector.freeze_long_lived()
    assert gc.get_freeze_count() > 0
    del alive_then
    made_after = Cycle()
    made_after_probe = weakref.ref(made_after)
    del made_after
    gc.collect()
    assert made_after_probe() is None  # the run's own garbage is still collected
    assert probe() is not None  # frozen: not walked, so not freed
    collector.restore()
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert probe() is None  # handed back: collected as before


def test_objects_frozen_by_someone_else_stay_theirs(collector_state):
    gc.freeze()
    theirs = gc.get_freeze_count()
    collector = RunCollector()
    collector.freeze_long_lived()
    assert gc.get_freeze_count() == theirs  # nothing added
    collector.restore()
    assert gc.get_freeze_count() == theirs  # nothing handed back that was not ours
