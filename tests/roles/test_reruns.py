"""A rerun plugin reruns a session's other tests, never a CLUE sample (its failure is deterministic)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from clue_checks.roles.reruns import exempt_from_reruns
from fakes import copy_suite

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]


class Plugins:
    def __init__(self, *names: str) -> None:
        self.names = set(names)

    def hasplugin(self, name: str) -> bool:
        return name in self.names


class Item:
    def __init__(self, sample: bool) -> None:
        self.sample, self.markers = sample, []

    def add_marker(self, marker) -> None:
        self.markers.append(marker)


@pytest.mark.parametrize(("plugins", "marked"), [(("rerunfailures",), 2), ((), 0), (("rerunfailures", "flaky"), 0)])
def test_only_samples_get_a_no_rerun_marker_and_only_under_the_rerun_plugin(plugins, marked):
    items = [Item(True), Item(False), Item(True)]
    config = SimpleNamespace(pluginmanager=Plugins(*plugins))
    assert exempt_from_reruns(config, items, lambda item: item.sample) == marked  # type: ignore[arg-type]
    for item in items:
        expected = [pytest.mark.flaky(reruns=0).mark] if item.sample and marked else []
        assert [m.mark for m in item.markers] == expected


FLAKY_OTHER_TEST = """
from pathlib import Path

def test_fails_once():
    seen = Path(__file__).with_name("seen")
    first = not seen.exists()
    seen.write_text("x")
    assert not first
"""


@pytest.mark.parametrize("workers", [None, pytest.param("2", marks=pytest.mark.slow)])
def test_reruns_leave_clue_samples_alone(pytester: pytest.Pytester, workers):
    pytest.importorskip("pytest_rerunfailures", reason="pytest-rerunfailures not installed (the test extra has it)")
    copy_suite(pytester.path)
    pytester.makepyfile(test_other=FLAKY_OTHER_TEST)
    args = ["tests_clinical/test_mednli.py", "test_other.py", "--reruns=2", "--clue-no-cache", "-p",
            "no:cacheprovider", "-q", "-rR", "--tb=no"] + (["-n", workers] if workers else [])
    # One process unless xdist's workers are the point.
    result = pytester.runpytest_subprocess(*args, timeout=300) if workers else pytester.runpytest_inprocess(*args)
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) > 0, outcomes  # the baseline fails some MedNLI samples
    assert outcomes.get("rerun") == 1, outcomes  # test_fails_once, and nothing else
    assert [line for line in result.stdout.lines if line.startswith("RERUN")] == ["RERUN test_other.py::test_fails_once"]
