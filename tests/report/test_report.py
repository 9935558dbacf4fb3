"""Thresholds parsing, bootstrap intervals, aggregation and gates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clue_checks.record import SampleRecord
from clue_checks.report.numbers.aggregate import summarize_task
from clue_checks.report.numbers.task_gates import evaluate_gates
from clue_checks.report.numbers.stats import mean_ci
from clue_checks.report.numbers.thresholds import ThresholdsError, load, parse


def test_thresholds_file_parses_floors_and_gates():
    t = parse('[sample]\n"meqsum.rougeL" = 0.1\n[gate]\n"mednli.accuracy" = ">= 0.4"\n"meqsum.rouge1" = "<0.9"\n', "f")
    assert t.floors_for("meqsum") == {"rougeL": 0.1}
    assert t.floors_for("mednli") == {}
    assert [g.name for g in t.gates] == ["mednli.accuracy >= 0.4", "meqsum.rouge1 < 0.9"]


@pytest.mark.parametrize("text,match", [
    ('[gate]\n"mednli.accuracy" = "about 0.4"\n', "must look like"),
    ('[gate]\nmednli = ">= 0.4"\n', "task.metric"),
    ('[sample]\n"meqsum.rougeL" = "high"\n', "must be a number"),
    ('[gates]\n', "unknown section"),
    ('[gate\n', "not valid TOML"),
    ('gate = ">= 0.3"\n', "must be a table"),
    ('sample = 0.1\n', "must be a table"),
    ('[gate]\n"meqsum.rougeL" = 0.3\n', "must look like"),
    ('[gate]\n"meqsum.rougeL" = true\n', "must look like"),
    ('[gate]\n"meqsum.rougeL" = "== 0.3"\n', "one of >=, >, <=, <"),
    ('[gate]\nmeqsum.rougeL = ">= 0.3"\n', 'quote the whole key'),
])
def test_bad_thresholds_files_say_what_is_wrong(text, match):
    with pytest.raises(ThresholdsError, match=match):
        parse(text, "thresholds.toml")


def test_builtin_thresholds_load():
    assert load(None).floors_for("meqsum")["rougeL"] > 0


@given(st.lists(st.floats(0, 1), min_size=2, max_size=60))
def test_bootstrap_interval_contains_the_mean_and_is_deterministic(values):
    mean, low, high = mean_ci(values)
    assert low <= mean + 1e-9 and mean - 1e-9 <= high
    assert mean_ci(values) == (mean, low, high)


def test_single_value_has_no_interval():
    assert mean_ci([0.5]) == (0.5, None, None)


def rec(i, outcome="passed", **metrics):
    return SampleRecord("meqsum", f"s{i}", i, outcome, metrics=metrics, source="sent" if i % 2 else "store")


def test_summary_counts_and_is_order_independent():
    records = [rec(0, rougeL=0.2), rec(1, "failed", rougeL=0.0), rec(2, "error"), rec(3, rougeL=0.4)]
    a = summarize_task("meqsum", "MeQSum", 1, ["rougeL"], records)
    b = summarize_task("meqsum", "MeQSum", 1, ["rougeL"], list(reversed(records)))
    assert a == b
    assert (a.n_samples, a.n_passed, a.n_failed, a.n_errored) == (4, 2, 1, 1)
    m = a.metric("rougeL")
    assert m.n == 3 and m.value == pytest.approx(0.2)
    assert a.failing == ("s1",) and a.errored == ("s2",)
    assert (a.requests_sent, a.requests_stored) == (2, 2)


def test_metric_no_sample_could_compute_is_reported_with_the_reason():
    records = [SampleRecord("t", "a", 0, "passed", metrics={"umls_f1": None}, not_computed={"umls_f1": "scispacy missing"})]
    m = summarize_task("t", "T", 1, ["umls_f1"], records).metric("umls_f1")
    assert m.value is None and "scispacy missing" in m.not_computed


def test_gates_pass_fail_and_not_computed():
    gates = parse('[gate]\n"meqsum.rougeL" = ">= 0.25"\n"meqsum.rouge1" = ">= 0.1"\n"mednli.accuracy" = ">= 0.5"\n', "f").gates
    summary = summarize_task("meqsum", "MeQSum", 1, ["rougeL", "rouge1"],
                             [rec(0, rougeL=0.2, rouge1=None), rec(1, rougeL=0.2, rouge1=None)], n_total=2)
    results = {r.gate.name: r for r in evaluate_gates(gates, {"meqsum": summary})}
    assert results["meqsum.rougeL >= 0.25"].status == "fail"
    assert results["meqsum.rouge1 >= 0.1"].status == "fail"
    assert "not computed" in results["meqsum.rouge1 >= 0.1"].detail
    assert results["mednli.accuracy >= 0.5"].status == "not run"


def test_a_gate_on_part_of_a_task_is_incomplete_whichever_side_of_the_bar():
    gates = parse('[gate]\n"meqsum.rougeL" = ">= 0.5"\n"meqsum.rouge1" = ">= 0.1"\n', "f").gates
    part = summarize_task("meqsum", "MeQSum", 1, ["rougeL", "rouge1"], [rec(0, rougeL=0.2, rouge1=0.3)],
                          n_selected=1, n_total=20)
    results = {r.gate.name: r for r in evaluate_gates(gates, {"meqsum": part})}
    assert results["meqsum.rougeL >= 0.5"].status == "incomplete"  # a triage run is not a failed release
    assert "would fail" in results["meqsum.rougeL >= 0.5"].detail and "1 of 20" in results["meqsum.rougeL >= 0.5"].detail
    assert results["meqsum.rouge1 >= 0.1"].status == "incomplete" and "would pass" in results["meqsum.rouge1 >= 0.1"].detail
    unstarted = summarize_task("meqsum", "MeQSum", 1, ["rougeL", "rouge1"], [], n_selected=20, n_total=20)
    results = {r.gate.name: r for r in evaluate_gates(gates, {"meqsum": unstarted})}  # an interrupted run
    assert results["meqsum.rougeL >= 0.5"].status == "incomplete" and "never ran" in results["meqsum.rougeL >= 0.5"].detail


def test_gate_fails_when_samples_errored():
    gates = parse('[gate]\n"meqsum.rougeL" = ">= 0.1"\n', "f").gates
    summary = summarize_task("meqsum", "MeQSum", 1, ["rougeL"], [rec(0, rougeL=0.9), rec(1, "error")])
    (result,) = evaluate_gates(gates, {"meqsum": summary})
    assert result.status == "incomplete" and "errored" in result.detail


def test_gate_on_a_subset_or_missing_samples_cannot_pass():
    from clue_checks.report.verdict import decide

    gates = parse('[gate]\n"meqsum.rougeL" = ">= 0.1"\n', "f").gates
    limited = summarize_task("meqsum", "MeQSum", 1, ["rougeL"], [rec(0, rougeL=0.9)], n_selected=1, n_total=20)
    crashed = summarize_task("meqsum", "MeQSum", 1, ["rougeL"], [rec(0, rougeL=0.9)], n_selected=3, n_total=3)
    for summary, why in ((limited, "only 1 of 20"), (crashed, "2 selected sample(s) never ran")):
        (result,) = evaluate_gates(gates, {"meqsum": summary})
        assert result.status == "incomplete" and why in result.detail
        assert decide([result], [summary]).word == "incomplete"
    assert crashed.n_missing == 2 and crashed.partial and not crashed.complete
    (not_run,) = evaluate_gates(gates, {})
    assert decide([not_run], []).word == "not run"
