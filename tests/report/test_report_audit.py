"""Report defects found in an audit: each test failed before its fix."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clue_checks.record import SampleRecord
from clue_checks.report.numbers.aggregate import group_by_task, summarize_task
from clue_checks.report.numbers.task_gates import evaluate_gates
from clue_checks.report.numbers.task_summary import MetricSummary, TaskSummary
from clue_checks.report.numbers.levels import LEVELS, level_scores
from clue_checks.report.document import Report
from clue_checks.report.write.pieces import task_rows
from clue_checks.report.verdict import decide
from clue_checks.report.write.markdown import markdown
from clue_checks.report.numbers.stats import mean_ci
from clue_checks.report.numbers.thresholds import Gate, ThresholdsError, parse


def rec(i, outcome="passed", task="meqsum", sid=None, **metrics):
    return SampleRecord(task, sid or f"s{i}", i, outcome, metrics=metrics, source="sent")


def gate(text: str) -> Gate:
    (g,) = parse(f'[gate]\n"meqsum.rougeL" = "{text}"\n', "f").gates
    return g


# -- bootstrap -------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [[None, 0.5], [0.5, None, 0.7], [float("nan"), 0.5], [0.5, float("inf")]])
def test_mean_ci_refuses_missing_or_non_finite_values(values):
    # numpy reads None as NaN: the mean came back NaN instead of saying what was wrong.
    with pytest.raises(ValueError):
        mean_ci(values)


@given(st.floats(0, 1), st.integers(2, 50))
def test_all_equal_values_give_a_zero_width_interval(value, n):
    assert mean_ci([value] * n) == pytest.approx((value, value, value), abs=1e-12)


# -- aggregation -----------------------------------------------------------------------------


def test_a_sample_reported_twice_counts_once_by_its_last_report():
    # e.g. pytest-rerunfailures, or the same node id given twice: the sample weighed double and
    # hid a sample that never ran (n_missing = n_selected - n_samples).
    records = [rec(0, "failed", rougeL=0.0), rec(1, rougeL=0.4), rec(0, rougeL=0.2)]
    s = summarize_task("meqsum", "MeQSum", 1, ["rougeL"], records, n_selected=3, n_total=3)
    assert (s.n_samples, s.n_passed, s.n_failed, s.n_missing) == (2, 2, 0, 1)
    assert s.metric("rougeL").value == pytest.approx(0.3) and s.metric("rougeL").n == 2
    assert s.failing == ()
    assert [r.metrics["rougeL"] for r in group_by_task(records)["meqsum"]] == [0.4, 0.2]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_metric_value_is_not_computed_with_the_reason(bad):
    s = summarize_task("meqsum", "MeQSum", 1, ["rougeL"], [rec(0, rougeL=0.2), rec(1, rougeL=bad), rec(2, rougeL=0.4)],
                       n_total=3)
    m = s.metric("rougeL")
    assert m.value == pytest.approx(0.3) and m.n == 2
    assert "1 of 3" in m.not_computed and str(bad) in m.not_computed
    json.dumps(report_of([s]).as_dict(), allow_nan=False)  # valid JSON: no NaN
    only_bad = summarize_task("meqsum", "MeQSum", 1, ["rougeL"], [rec(0, rougeL=bad)], n_total=1).metric("rougeL")
    assert only_bad.value is None and str(bad) in only_bad.not_computed


def test_a_metric_missing_on_some_samples_keeps_the_reason_and_its_gate_is_incomplete():
    records = [SampleRecord("meqsum", f"s{i}", i, "passed", metrics={"rougeL": 0.9 if i else None},
                            not_computed={} if i else {"rougeL": "tokenizer crashed"}) for i in range(4)]
    s = summarize_task("meqsum", "MeQSum", 1, ["rougeL"], records, n_total=4)
    m = s.metric("rougeL")
    assert m.value == pytest.approx(0.9) and m.n == 3
    assert m.not_computed == "1 of 4 scored samples: tokenizer crashed (1 sample)"
    (result,) = evaluate_gates([gate(">= 0.5")], {"meqsum": s})
    assert result.status == "incomplete" and "tokenizer crashed" in result.detail
    rows, notes = task_rows([s])
    assert "partly not computed [1]" in rows[0][2] and notes == [m.not_computed]


def test_a_batched_value_missing_for_every_sample_is_not_reported_as_no_samples_scored():
    s = summarize_task("meqsum", "MeQSum", 1, [], [rec(0), rec(1)], {"bertscore_f1": ([None, None], None)}, n_total=2)
    m = s.metric("bertscore_f1")
    assert m.value is None and "no samples scored" not in m.not_computed and "2 samples" in m.not_computed


def test_a_gate_on_a_task_of_unknown_size_cannot_pass():
    s = summarize_task("meqsum", "MeQSum", 1, ["rougeL"], [rec(0, rougeL=0.9), rec(1, rougeL=0.9)])  # n_total None
    (result,) = evaluate_gates([gate(">= 0.5")], {"meqsum": s})
    assert result.status == "incomplete" and "unknown" in result.detail
    assert not s.complete
    whole = summarize_task("meqsum", "MeQSum", 1, ["rougeL"], [rec(0, rougeL=0.9), rec(1, rougeL=0.9)], n_total=2)
    assert [r.status for r in evaluate_gates([gate(">= 0.5")], {"meqsum": whole})] == ["pass"]


@pytest.mark.parametrize("value,text,status", [(0.29996, ">= 0.3", "fail"), (0.30004, "<= 0.3", "fail"),
                                               (0.3 + 1e-12, "> 0.3", "pass")])
def test_the_gate_detail_never_shows_a_rounded_value_with_the_other_verdict(value, text, status):
    s = summarize_task("meqsum", "MeQSum", 1, ["rougeL"], [rec(0, rougeL=value)], n_total=1)
    (result,) = evaluate_gates([gate(text)], {"meqsum": s})
    assert result.status == status
    shown = float(result.detail.split()[0])
    assert gate(text).holds(shown) == (status == "pass")


# -- thresholds ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ['[gate]\n"meqsum.rougeL" = "<= 5"\n', '[gate]\n"meqsum.rougeL" = ">= 30"\n',
                                  '[gate]\n"meqsum.rougeL" = ">= -0.1"\n', '[gate]\n"meqsum.rougeL" = "> 1.5"\n'])
def test_a_gate_bound_outside_0_1_is_refused(text):
    # "<= 5" could never fail, ">= -0.1" neither, ">= 30" (a percentage) never pass
    with pytest.raises(ThresholdsError, match="between 0 and 1"):
        parse(text, "f")


@pytest.mark.parametrize("floor", ["nan", "-0.5", "1.5", "inf"])
def test_a_floor_outside_0_1_is_refused(floor):
    # a NaN or negative floor never fails a sample
    with pytest.raises(ThresholdsError, match="between 0 and 1"):
        parse(f'[sample]\n"meqsum.rougeL" = {floor}\n', "f")


@given(st.sampled_from([">=", ">", "<=", "<"]), st.floats(0, 1))
def test_a_gate_name_states_the_bound_the_gate_uses(op, bound):
    # ":g" showed ">= 0.1234567" as ">= 0.123457", a bound the gate does not use
    g = Gate("meqsum", "rougeL", op, bound)
    assert g.name.startswith(f"meqsum.rougeL {op} ") and float(g.name.split()[-1]) == bound
    assert Gate("meqsum", "rougeL", op, 0.3).name == f"meqsum.rougeL {op} 0.3"


# -- levels ----------------------------------------------------------------------------------


def level_inputs(level: int, size: int = 5, value: float = 0.5) -> dict[tuple[str, str], list[float]]:
    return {key: [value] * (size - 1) + [1 - value] for _, parts in LEVELS[level] for key in parts}


def test_a_level_interval_does_not_depend_on_whether_the_other_level_ran():
    both = level_scores({**level_inputs(1, value=0.2), **level_inputs(2, value=0.7)})
    only_two = level_scores(level_inputs(2, value=0.7))
    assert both[0].value is not None and only_two[0].value is None
    assert both[1] == only_two[1]


def test_a_nan_value_is_left_out_of_a_level_as_the_task_table_leaves_it_out():
    values = level_inputs(1)
    values[("mednli", "accuracy")] = [1.0, 0.0, float("nan")]
    (one, _) = level_scores(values)
    assert one.components["MedNLI"] == 0.5 and not math.isnan(one.value)


KEYS = [key for level in (1, 2) for _, parts in LEVELS[level] for key in parts]


@given(st.lists(st.lists(st.floats(0, 1), min_size=1, max_size=8), min_size=len(KEYS), max_size=len(KEYS)))
def test_levels_are_the_means_of_the_printed_task_numbers(per_task):
    values = dict(zip(KEYS, per_task))
    tasks = {key: mean_ci(v)[0] for key, v in values.items()}
    levels = level_scores(values)
    for lv in levels:
        expected = {name: sum(tasks[k] for k in parts) / len(parts) for name, parts in LEVELS[lv.level]}
        assert lv.components == pytest.approx(expected)
        assert lv.value == pytest.approx(sum(expected.values()) / len(expected))
        # A zero-width interval would claim certainty: when no task's samples vary there is none, with the reason.
        varies = any(len(set(values[k])) > 1 for _, parts in LEVELS[lv.level] for k in parts)
        if varies:
            assert lv.ci_low <= lv.value + 1e-9 and lv.value - 1e-9 <= lv.ci_high
        else:
            assert lv.ci_low is None and lv.method.startswith("no interval")
    assert level_scores(values) == levels


# -- renderers -------------------------------------------------------------------------------


RUN = {"model_id": "m", "model_revision": None, "server_kind": "tgi", "endpoints": ["http://x"], "api": "chat",
       "profile": "paper", "data_dir": "d", "seeds": {"shots": 1, "longhealth": 2, "bootstrap": 3,
                                                       "bootstrap_resamples": 1000}}


def report_of(tasks, gates=()):
    """A report built directly from plain values (no pytest session)."""
    return Report(run=RUN, manifest={}, tasks=tuple(tasks), levels=(), gates=tuple(gates),
                  verdict=decide(gates, tasks), requests={"sent": 0, "failed": 0, "from_store": 0, "shared": 0})


def test_line_breaks_and_backticks_in_reasons_and_ids_do_not_break_the_markdown():
    records = [SampleRecord("meqsum", "a`b\nc", 0, "failed", metrics={"rougeL": None},
                            not_computed={"rougeL": "boom\n\n# not a heading\n| x |"}),
               SampleRecord("meqsum", "s1", 1, "error", reason="down")]
    s = summarize_task("meqsum", "MeQSum", 1, ["rougeL"], records, n_total=2)
    gates = evaluate_gates([gate(">= 0.1")], {"meqsum": s})
    md = markdown(report_of([s], gates))
    lines = md.splitlines()
    assert not any(line.startswith("# not") or line.startswith("| x") for line in lines)
    assert "- MeQSum (1): ``meqsum:a`b c``" in lines and "- MeQSum (1): `meqsum:s1`" in lines


def test_every_errored_sample_beyond_the_first_50_is_counted_in_the_list():
    records = [rec(i, "error") for i in range(53)]
    s = summarize_task("meqsum", "MeQSum", 1, ["rougeL"], records, n_total=53)
    md = markdown(report_of([s]))
    assert "… and 3 more" in md.split("## Errored samples")[1]


def test_notes_without_a_reason_are_listed_once():
    metrics = tuple(MetricSummary(name, None, None, None, 0, None) for name in ("a", "b"))
    s = TaskSummary("t", "T", 1, 1, 1, 0, 0, 1, 0, metrics, (), (), n_selected=1, n_total=1)
    rows, notes = task_rows([s])
    assert notes == ["unknown reason"] and [r[2] for r in rows] == ["not computed [1]"] * 2


# -- sample check ----------------------------------------------------------------------------


@pytest.mark.parametrize("value,floor", [(0.09996, 0.1), (0.10004, 0.1), (0.5, None), (0.1, 0.1)])
def test_the_failure_message_never_rounds_a_value_across_its_floor(value, floor):
    from clue_checks.sample_verdict import _shown

    text = _shown(value, floor)
    assert floor is None or (float(text) < floor) == (value < floor)
    assert floor is not None or text == "0.5000"
