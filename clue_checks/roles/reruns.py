"""CLUE samples are not rerun by a rerun plugin.

A sample's answer comes from the response store, so a failing sample fails the same way every time:
`--reruns=N` would run each deterministic failure N more times and report nothing new. pytest-rerunfailures
reads its per-test `flaky` marker before its global setting, so each CLUE sample gets `flaky(reruns=0)`;
other tests of the session keep the rerun setting they asked for. Two settings of that plugin still rerun
samples, since the user asked for them by name: `--force-reruns` and `--reruns-mode=append`.

The marker is added only where pytest-rerunfailures is loaded (it registers the marker), and not where the
`flaky` plugin is loaded too: that plugin reads the same marker with other arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

RERUN_PLUGIN = "rerunfailures"  # pytest-rerunfailures' entry-point name
OTHER_FLAKY_PLUGIN = "flaky"  # the `flaky` package's, whose marker has the same name


def exempt_from_reruns(config: pytest.Config, items: Iterable[pytest.Item],
                       is_sample: Callable[[pytest.Item], bool]) -> int:
    """Mark each CLUE sample item to run once; returns how many were marked."""
    plugins = config.pluginmanager
    if not plugins.hasplugin(RERUN_PLUGIN) or plugins.hasplugin(OTHER_FLAKY_PLUGIN):
        return 0
    marked = 0
    for item in items:
        if is_sample(item):
            item.add_marker(pytest.mark.flaky(reruns=0))
            marked += 1
    return marked
