"""The aggregator: records -> summaries, levels, gates, verdict, exit code; pure and fast."""

from __future__ import annotations

import copy

import pytest

from clue_checks.report.verdict import Verdict
from hypothesis import given
from hypothesis import strategies as st

from clue_checks.metrics import BatchedValues
from clue_checks.report.numbers.aggregate import (
    SampleRecord, TaskSpec, aggregate, exit_status, summarize_task,
)
from clue_checks.report.numbers.stats import interval, mean_ci
from clue_checks.report.numbers.thresholds import parse

MEDNLI = TaskSpec("mednli", "MedNLI", 1, ("accuracy",), n_total=4)
MEQSUM = TaskSpec("meqsum", "MeQSum", 1, ("rougeL",), ("bertscore_f1",), n_total=3)


def rec(task, i, outcome="passed", cluster=None, **metrics):
    return SampleRecord(task, f"s{i}", i, outcome, metrics=metrics, source="sent", response=f"r{i}",
                        reference=f"g{i}", cluster=cluster)


def mednli(*correct):
    return [rec("mednli", i, "passed" if c else "failed", accuracy=float(c)) for i, c in enumerate(correct)]


def gates(text):
    return parse("[gate]\n" + text, "t.toml").gates


def scorer(values):
    def score(task, pairs):
        score.calls.append((task, list(pairs)))
        return {"bertscore_f1": BatchedValues(tuple(values[: len(pairs)]))}
    score.calls = []
    return score


def test_batched_values_land_on_new_records_and_the_given_records_are_not_changed():
    records = [rec("meqsum", i, rougeL=0.1 * i) for i in range(3)]
    before = copy.deepcopy(records)
    score = scorer([0.7, 0.8, 0.9])
    result = aggregate(records, [MEQSUM], (), batch_score=score)
    assert records == before and all("bertscore_f1" not in r.metrics for r in records)
    assert [r.metrics["bertscore_f1"] for r in result.records["meqsum"]] == [0.7, 0.8, 0.9]
    assert score.calls == [("meqsum", [("r0", "g0"), ("r1", "g1"), ("r2", "g2")])]
    assert result.tasks[0].metric("bertscore_f1").value == pytest.approx(0.8)


def test_carried_batched_values_give_the_same_summary_as_computing_them():
    # A merge of shard reports reads the values the shards wrote: the same numbers as one run.
    records = [rec("meqsum", i, rougeL=0.1 * i) for i in range(3)] + [rec("meqsum", 3, "error")]
    spec = TaskSpec("meqsum", "MeQSum", 1, ("rougeL",), ("bertscore_f1",), n_total=4)
    computed = aggregate(records, [spec], (), batch_score=scorer([0.7, 0.8, 0.9]))
    carried = aggregate([r for rows in computed.records.values() for r in rows], [spec], ())
    assert carried.tasks == computed.tasks and carried.records == computed.records


def test_a_batched_metric_that_fails_is_not_computed_with_its_reason_on_every_scored_record():
    def broken(task, pairs):
        raise RuntimeError("no GPU memory")

    result = aggregate([rec("meqsum", i, rougeL=0.2) for i in range(2)], [MEQSUM], (), batch_score=broken)
    metric = result.tasks[0].metric("bertscore_f1")
    assert metric.value is None and "RuntimeError: no GPU memory" in metric.not_computed
    assert all(r.not_computed["bertscore_f1"] == metric.not_computed for r in result.records["meqsum"])
    carried = aggregate([r for rows in result.records.values() for r in rows], [MEQSUM], ())
    assert carried.tasks == result.tasks  # the reason survives a merge


def test_records_without_a_carried_batched_value_are_not_computed_not_silently_dropped():
    result = aggregate([rec("meqsum", i, rougeL=0.2) for i in range(3)], [MEQSUM], ())
    assert "3 record(s) carry no bertscore_f1" in result.tasks[0].metric("bertscore_f1").not_computed


def test_gates_of_tasks_left_out_by_tasks_are_not_selected_and_do_not_block_a_pass():
    result = aggregate(mednli(1, 1, 0, 1), [MEDNLI, MEQSUM], gates('"mednli.accuracy" = ">= 0.5"\n'
                                                                   '"meqsum.rougeL" = ">= 0.2"\n'),
                       not_selected=["meqsum"])
    assert [g.status for g in result.gates] == ["pass", "not selected"]
    assert result.verdict == "pass" and result.verdict_reasons == ()


def test_a_gate_whose_task_was_selected_but_did_not_run_still_blocks():
    result = aggregate(mednli(1, 1, 0, 1), [MEDNLI, MEQSUM], gates('"mednli.accuracy" = ">= 0.5"\n'
                                                                   '"meqsum.rougeL" = ">= 0.2"\n'))
    assert [g.status for g in result.gates] == ["pass", "not run"]
    assert result.verdict == "not run" and "gate not run: meqsum.rougeL >= 0.2" in result.verdict_reasons


def test_a_selected_but_partial_task_is_incomplete_and_the_verdict_says_why():
    spec = TaskSpec("mednli", "MedNLI", 1, ("accuracy",), n_selected=4, n_total=4)
    result = aggregate(mednli(1, 1), [spec], gates('"mednli.accuracy" = ">= 0.5"\n'))
    assert result.gates[0].status == "incomplete" and result.verdict == "incomplete"
    assert any("MedNLI incomplete: 2 of 4" in r for r in result.verdict_reasons)


def test_only_gates_that_count_make_a_verdict():
    none = aggregate(mednli(1, 1, 1, 1), [MEDNLI], ())
    assert none.verdict == "not run"
    left_out = aggregate(mednli(1, 1, 1, 1), [MEDNLI], gates('"meqsum.rougeL" = ">= 0.2"\n'), not_selected=["meqsum"])
    assert left_out.verdict == "not run"


def test_a_pass_blocker_makes_passing_gates_a_fail_with_the_reason():
    result = aggregate(mednli(1, 1, 1, 1), [MEDNLI], gates('"mednli.accuracy" = ">= 0.5"\n'),
                       pass_blockers=["synthetic fixtures: scores mean nothing clinically; give --clue-data"])
    assert result.gates[0].status == "pass" and result.verdict == "fail"
    assert result.verdict_reasons == ("synthetic fixtures: scores mean nothing clinically; give --clue-data",)


def test_a_shard_defers_every_selected_gate():
    result = aggregate(mednli(1, 0), [TaskSpec("mednli", "MedNLI", 1, ("accuracy",), n_total=4)],
                       gates('"mednli.accuracy" = ">= 0.5"\n"meqsum.rougeL" = ">= 0.2"\n'),
                       not_selected=["meqsum"], deferred="shard 1/2")
    assert [g.status for g in result.gates] == ["deferred", "not selected"]
    assert result.verdict == "deferred"


def test_per_task_intervals_resample_whole_clusters():
    values = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    clusters = ["q1", "q1", "q1", "q2", "q2", "q2", None, None]
    records = [rec("mednli", i, cluster=c, accuracy=v) for i, (v, c) in enumerate(zip(values, clusters))]
    metric = aggregate(records, [TaskSpec("mednli", "MedNLI", 1, ("accuracy",), n_total=8)], ()).tasks[0].metric(
        "accuracy")
    assert (metric.value, metric.ci_low, metric.ci_high) == mean_ci(values, clusters=clusters)
    assert (metric.ci_low, metric.ci_high) != mean_ci(values)[1:]  # not the independent-samples interval


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_without_clusters_the_interval_is_the_single_run_interval_and_says_its_method(values):
    # stats.interval: Wilson for 0/1 scores and constant scores (never zero width), else the bootstrap.
    records = [rec("meqsum", i, rougeL=v) for i, v in enumerate(values)]
    metric = summarize_task("meqsum", "MeQSum", 1, ["rougeL"], records).metric("rougeL")
    binary = all(v in (0.0, 1.0) for v in values)
    assert (metric.value, metric.ci_low, metric.ci_high, metric.method) == tuple(interval(values, binary=binary))
    if len(values) > 1 or binary:
        assert metric.ci_low is not None and metric.ci_low < metric.ci_high, metric.method


def test_a_constant_score_gets_a_non_degenerate_interval_and_its_method():
    records = [rec("medisumcode", i, valid_codes=1.0) for i in range(23)]
    metric = summarize_task("medisumcode", "MeDiSumCode", 2, ["valid_codes"], records).metric("valid_codes")
    assert metric.value == 1.0 and metric.ci_high == 1.0 and metric.ci_low < 0.9
    assert metric.method.startswith("Wilson score 95% interval over 23 samples")


def test_a_gate_may_name_the_lower_end_of_the_interval():
    records = mednli(*([1] * 19 + [0] * 26))  # 0.422 over 45, as MedNLI on the fixtures: interval down to ~0.29
    spec = [TaskSpec("mednli", "MedNLI", 1, ("accuracy",), n_total=45)]
    point, lower = aggregate(records, spec, gates('"mednli.accuracy" = ">= 0.30"\n')).gates[0], \
        aggregate(records, spec, gates('"mednli.accuracy" = "lower95 >= 0.30"\n')).gates[0]
    assert point.status == "pass"
    assert lower.status == "fail" and lower.detail.startswith("lower95 0.2")


def test_tasks_with_no_records_and_nothing_selected_are_left_out():
    result = aggregate(mednli(1), [MEDNLI, MEQSUM], ())
    assert [t.task for t in result.tasks] == ["mednli"] and set(result.records) == {"mednli"}


# -- exit rule -------------------------------------------------------------------------------


def result_with(word):
    return Verdict(word)


@pytest.mark.parametrize(("verdict", "pytest_status", "others", "expected"), [
    ("pass", 1, 0, 0),  # failing samples do not decide in gate mode
    ("fail", 0, 0, 1),
    ("not run", 0, 0, 1),
    ("incomplete", 0, 0, 1),
    ("inconclusive", 0, 0, 6),  # its own code: the gates could not have seen the drop they guard against
    ("inconclusive", 1, 1, 1),
    ("pass", 1, 1, 1),  # a failing non-CLUE test in the session does
    ("deferred", 1, 0, 0),  # a shard: the merge decides
    ("deferred", 1, 2, 1),
    ("pass", 2, 0, 2),  # interrupted stays interrupted
    ("pass", 3, 0, 3),  # internal error
])
def test_gate_mode_exit_code(verdict, pytest_status, others, expected):
    assert exit_status(result_with(verdict), mode="gates", pytest_status=pytest_status,
                       other_failures=others) == expected


@pytest.mark.parametrize("pytest_status", [0, 1, 2, 5])
def test_pytest_mode_keeps_pytests_exit_code(pytest_status):
    assert exit_status(result_with("fail"), mode="pytest", pytest_status=pytest_status, other_failures=3) == \
        pytest_status
