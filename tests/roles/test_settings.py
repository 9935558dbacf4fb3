"""Settings that the plugin reads in every pytest session: cheap, and true to the task code."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clue_checks import settings
from clue_checks.sample_ids import task_of_nodeid
from clue_checks.sharding import select_shard, shard_of


def test_the_written_out_task_and_profile_names_are_the_task_codes():
    from clue_checks.tasks import TASKS
    from clue_checks.tasks.profiles import PROFILES

    assert settings.TASKS == tuple(TASKS) and settings.PROFILES == tuple(PROFILES)


def test_the_written_out_layouts_are_the_rendering_codes():
    from clue_checks.rendering import PROMPT_LAYOUTS

    assert settings.PROMPT_LAYOUTS == tuple(PROMPT_LAYOUTS)


@pytest.mark.parametrize(("value", "expected"), [("1/4", (1, 4)), ("4/4", (4, 4)), (" 2/3 ", (2, 3)), (None, None)])
def test_a_shard_is_k_of_n(value, expected):
    assert settings.parse_shard((value, "cli")) == expected


@pytest.mark.parametrize(("value", "message"), [("0/4", "1 <= K <= N"), ("5/4", "1 <= K <= N"), ("2", "K/N"),
                                                ("a/b", "K/N"), ("1/2/3", "K/N")])
def test_a_nonsense_shard_is_a_usage_error_naming_where_it_came_from(value, message):
    with pytest.raises(pytest.UsageError, match=message) as cli:
        settings.parse_shard((value, "cli"))
    assert "--clue-shard" in str(cli.value)
    with pytest.raises(pytest.UsageError, match="clue_shard \\(ini file\\)"):
        settings.parse_shard((value, "ini"))


@pytest.mark.parametrize(("nodeid", "task"), [
    ("tests_clinical/test_mednli.py::test_sample[mednli:synth-1]", "mednli"),
    ("t.py::test_sample[longhealth-t2:patient_01/q02/r3]", "longhealth-t2"),
    ("t.py::test_sample[medisumqa:note[1]/q2]", "medisumqa"),
    ("tests/test_x.py::test_add", None),
    ("tests/test_x.py::test_p[mednlix:1]", None),
    ("tests/test_x.py::test_p[1-mednli:1]", None),
    ("tests/test_x.py::test_p[t.py::test_sample[mednli:1]-mednli]", None),
])
def test_sample_node_ids_are_recognised_without_task_code(nodeid, task):
    assert task_of_nodeid(nodeid) == task


def test_shards_keep_clusters_together_and_deal_them_round_robin():
    samples = [("q1", 0), ("q1", 1), ("q2", 0), ("q3", 0), ("q2", 1), ("q4", 0)]
    assert shard_of(samples, lambda s: s[0], 2) == [0, 0, 1, 0, 1, 1]
    assert select_shard(samples, lambda s: s[0], (1, 2)) == [("q1", 0), ("q1", 1), ("q3", 0)]


@given(st.lists(st.sampled_from("abcdefgh"), max_size=60), st.integers(1, 6))
def test_shards_partition_the_samples_and_never_split_a_cluster(groups, n):
    samples = list(enumerate(groups))
    parts = [select_shard(samples, lambda s: s[1], (k, n)) for k in range(1, n + 1)]
    assert sorted(s for part in parts for s in part) == samples  # each sample in exactly one shard
    owners = {}
    for k, part in enumerate(parts):
        for _, group in part:
            assert owners.setdefault(group, k) == k
    sizes = [len({g for _, g in part}) for part in parts]
    assert max(sizes) - min(sizes) <= 1  # clusters are dealt evenly
