"""[gate] bounds on the interval, [compare] gates and their verdict."""

from __future__ import annotations

import dataclasses
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clue_checks.report.compare.gates import evaluate_compare_gates, holm
from clue_checks.report.compare.paired import paired_difference
from clue_checks.report.numbers.thresholds import CompareGate, Gate, ThresholdsError, parse


# -- parsing --------------------------------------------------------------------------------


def test_a_gate_may_name_an_end_of_the_interval():
    t = parse('[gate]\n"mednli.accuracy" = "lower95 >= 0.30"\n"meqsum.rougeL" = "upper95 <= 0.9"\n'
              '"medisumcode.icd_ap_f1" = ">= 0.1"\n', "f")
    lower, upper, value = t.gates
    assert lower == Gate("mednli", "accuracy", ">=", 0.3, "lower95") and lower.name == "mednli.accuracy lower95 >= 0.3"
    assert upper.name == "meqsum.rougeL upper95 <= 0.9" and value.statistic == "value"
    # MedNLI 0.422 passes ">= 0.30" on its point, but not when its interval reaches 0.289
    assert lower.observed(0.422, 0.289, 0.55) == 0.289 and not lower.holds(lower.observed(0.422, 0.289, 0.55))
    assert value.observed(0.422, 0.289, 0.55) == 0.422
    assert lower.observed(0.422, None, None) is None


@pytest.mark.parametrize("text", ["lower95 <= 0.3", "lower95 < 0.3", "upper95 >= 0.3", "upper95 > 0.3"])
def test_a_bound_that_uncertainty_makes_easier_is_refused(text):
    with pytest.raises(ThresholdsError, match="passes more easily"):
        parse(f'[gate]\n"mednli.accuracy" = "{text}"\n', "f")


def test_compare_section_parses_both_rules():
    t = parse('[compare]\n"mednli.accuracy" = "noninferior 0.02"\n"meqsum.rougeL" = "no regression"\n', "f")
    assert t.compare == (CompareGate("mednli", "accuracy", "noninferior", 0.02),
                         CompareGate("meqsum", "rougeL", "no regression"))
    assert [g.name for g in t.compare] == ["mednli.accuracy noninferior 0.02", "meqsum.rougeL no regression"]
    assert t.gates == () and parse("", "f").compare == ()


@pytest.mark.parametrize("text,match", [
    ('"mednli.accuracy" = "noninferior"', "must be"),
    ('"mednli.accuracy" = "noninferior 2"', "margin must be above 0 and below 1"),
    ('"mednli.accuracy" = "noninferior 0"', "margin must be above 0"),
    ('"mednli.accuracy" = "no regresion"', "must be"),
    ('"mednli.accuracy" = 0.02', "must be"),
    ('mednli = "no regression"', "task.metric"),
])
def test_bad_compare_gates_say_what_is_wrong(text, match):
    with pytest.raises(ThresholdsError, match=match):
        parse(f"[compare]\n{text}\n", "thresholds.toml")


def test_the_unknown_section_message_names_compare():
    with pytest.raises(ThresholdsError, match=r"\[sample\], \[gate\] and \[compare\]"):
        parse("[comparison]\n", "f")


# -- evaluation -----------------------------------------------------------------------------

NI = CompareGate("mednli", "accuracy", "noninferior", 0.02)
NR = CompareGate("mednli", "accuracy", "no regression")


def mednli(broke: int, fixed: int, n: int = 1419, **changes):
    base = np.array([1.0] * broke + [0.0] * fixed + [1.0] * ((n - broke - fixed) // 2)
                    + [0.0] * (n - broke - fixed - (n - broke - fixed) // 2))
    new = base.copy()
    new[:broke] = 0.0
    new[broke:broke + fixed] = 1.0
    return dataclasses.replace(paired_difference(new, base, kind="binary", task="mednli", metric="accuracy"),
                               **changes)


def test_identical_runs_pass_every_comparison_gate_at_mednli_size():
    (ni, nr) = evaluate_compare_gates([NI, NR], {("mednli", "accuracy"): mednli(0, 0)})
    assert ni.status == nr.status == "pass"
    assert ni.difference == 0 and nr.p_value == 1.0
    assert "a drop of 0.02 is ruled out" in nr.detail and "0 of 1419 pairs differ" in nr.detail
    assert "smallest detectable drop not known" in ni.detail  # no discordant pairs: no discordance to plan with


def test_identical_small_runs_are_inconclusive_not_a_pass():
    # 45 pairs cannot rule out a 2-point drop even when nothing changed
    (nr,) = evaluate_compare_gates([NR], {("mednli", "accuracy"): mednli(0, 0, n=45)})
    assert nr.status == "inconclusive" and "cannot be ruled out" in nr.detail


def test_the_walkthroughs_mednli_drop_in_a_family_of_six_is_not_a_pass():
    # 45 pairs, 6 broke and 0 fixed (-13.3 points): p = 2/64, Holm-adjusted above 0.05 with five other gates
    c = mednli(6, 0, n=45)
    others = {(t, "accuracy"): dataclasses.replace(c, task=t, p_value=0.5) for t in "abcde"}
    gates = [NR, *(CompareGate(t, "accuracy", "no regression") for t in "abcde")]
    results = evaluate_compare_gates(gates, {("mednli", "accuracy"): c, **others})
    assert c.p_value == pytest.approx(2 / 64) and results[0].p_holm == pytest.approx(6 * 2 / 64)
    assert results[0].status == "inconclusive"
    assert results[0].units_needed is not None and results[0].units_needed > 45
    assert "needs about 2,149 pairs" in results[0].detail and "smallest detectable drop" in results[0].detail
    assert results[0].as_dict()["status"] == "inconclusive" and results[0].as_dict()["margin"] == 0.02


def test_a_planted_drop_fails_both_and_the_detail_says_why():
    c = mednli(broke=100, fixed=40)  # -4.2 points, 140 discordant of 1,419
    (ni, nr) = evaluate_compare_gates([NI, NR], {("mednli", "accuracy"): c})
    assert ni.status == "fail" and ni.one_sided_low < -0.02 and "<= -0.02" in ni.detail
    assert nr.status == "fail" and "a significant drop" in nr.detail
    assert "100 broke, 40 fixed" in ni.detail
    assert 0.01 < ni.detectable_drop < 0.04 and "exact McNemar at n = 1419, discordance 9.9%" in ni.detail
    assert nr.detectable_drop > ni.detectable_drop  # two-sided needs a bigger drop than one-sided


def test_a_small_drop_inside_the_margin_passes_non_inferiority():
    c = mednli(broke=30, fixed=25)  # -0.35 points, 3.9% discordance
    (ni,) = evaluate_compare_gates([NI], {("mednli", "accuracy"): c})
    assert ni.status == "pass" and ni.one_sided_low > -0.02


def test_a_significant_improvement_is_not_a_regression():
    (nr,) = evaluate_compare_gates([NR], {("mednli", "accuracy"): mednli(broke=20, fixed=80)})
    assert nr.status == "pass" and "no significant drop" in nr.detail


def test_no_regression_takes_a_stated_margin():
    t = parse('[compare]\n"mednli.accuracy" = "no regression 0.05"\n', "f")
    (gate,) = t.compare
    assert gate == CompareGate("mednli", "accuracy", "no regression", 0.05) and gate.tolerance == 0.05
    assert gate.name == "mednli.accuracy no regression 0.05" and NR.tolerance == 0.02
    c = mednli(broke=40, fixed=25)  # about -1 point, bound near -2.3
    (wide,) = evaluate_compare_gates([gate], {("mednli", "accuracy"): c})
    (narrow,) = evaluate_compare_gates([NR], {("mednli", "accuracy"): c})
    assert wide.status == "pass" and narrow.status == "inconclusive"


def test_holm_across_no_regression_gates():
    gates = [CompareGate(t, "accuracy", "no regression") for t in ("a", "b")]
    c = mednli(broke=60, fixed=40)
    one = {("a", "accuracy"): dataclasses.replace(c, task="a", p_value=0.03)}
    (alone,) = evaluate_compare_gates(gates[:1], one)
    assert alone.status == "fail" and alone.p_holm == pytest.approx(0.03)
    both = {**one, ("b", "accuracy"): dataclasses.replace(c, task="b", p_value=0.04)}
    results = evaluate_compare_gates(gates, both)
    assert [r.p_holm for r in results] == pytest.approx([0.06, 0.06])
    assert [r.status for r in results] == ["inconclusive", "inconclusive"]  # no fail, but 2 points not ruled out
    assert "Holm-adjusted 0.06 across 2 gates" in results[0].detail
    # a non-inferiority gate is not part of the family
    with_ni = evaluate_compare_gates([*gates, CompareGate("a", "accuracy", "noninferior", 0.5)], both)
    assert [r.p_holm for r in with_ni] == pytest.approx([0.06, 0.06, None])


@settings(max_examples=50)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_matches_statsmodels(p):
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    # statsmodels' Holm branch ends in a full gc.collect() (0.05-0.4 s in a process this size, per example);
    # what it computes is the same without it.
    with mock.patch("gc.collect", return_value=0):
        expected = multitest.multipletests(p, method="holm")[1]
    assert holm(p) == pytest.approx(list(expected), abs=1e-12)
    assert holm([]) == []


def test_missing_samples_or_a_partial_task_make_a_gate_incomplete():
    c = mednli(0, 0, missing_in_new=("x", "y"))
    (ni,) = evaluate_compare_gates([NI], {("mednli", "accuracy"): c})
    assert ni.status == "incomplete" and "would be pass" in ni.detail and "2 baseline sample(s)" in ni.detail
    (part,) = evaluate_compare_gates([NI], {("mednli", "accuracy"): mednli(100, 40)},
                                     partial={"mednli": "only 10 of 1419 samples were selected"})
    assert part.status == "incomplete" and "would be fail" in part.detail and "only 10 of 1419" in part.detail


def test_gates_without_a_comparison_are_not_run():
    (a,) = evaluate_compare_gates([NI], {})
    assert a.status == "not run" and "not compared" in a.detail
    (b,) = evaluate_compare_gates([NI], {("mednli", "accuracy"): mednli(0, 0)}, no_baseline="no --clue-baseline given")
    assert b.status == "not run" and b.detail == "no --clue-baseline given"


def test_a_continuous_gate_states_its_detectable_drop_from_the_sign_flip_spread():
    rng = np.random.default_rng(0)
    base = rng.beta(2, 6, 997)
    diff = rng.normal(0, 0.05, 997)
    c = paired_difference(base + diff, base, task="meqsum", metric="rougeL", resamples=2000)
    (r,) = evaluate_compare_gates([CompareGate("meqsum", "rougeL", "no regression")], {("meqsum", "rougeL"): c})
    assert r.detectable_drop == pytest.approx((1.959964 + 0.841621) * c.se, rel=1e-6)
    assert c.se == pytest.approx(np.sqrt(np.sum((diff / 997) ** 2)))  # the sign-flip sum's sd under no difference
    assert "normal approximation of the sign-flip test" in r.detail and r.status == "pass"


def test_few_changed_samples_pass_with_a_bound_from_the_whole_scale():
    # MeQSum: 3 of 997 summaries changed, all worse: no test can reject, yet a 2-point drop is ruled out
    rng = np.random.default_rng(1)
    base = rng.beta(2, 6, 997)
    new = base.copy()
    new[:3] -= 0.1
    c = paired_difference(new, base, task="meqsum", metric="rougeL")
    assert c.ci_low is None and "Clopper-Pearson" in c.bound_how and -0.02 < c.one_sided_low < -0.005
    (r,) = evaluate_compare_gates([CompareGate("meqsum", "rougeL", "no regression")], {("meqsum", "rougeL"): c})
    assert r.status == "pass" and r.differing == "3 of 997 pairs differ"


def test_results_serialise():
    (r,) = evaluate_compare_gates([NI], {("mednli", "accuracy"): mednli(10, 5)})
    d = r.as_dict()
    assert d["gate"] == "mednli.accuracy noninferior 0.02" and d["status"] == "pass"
    assert d["detectable_drop"]["power"] == 0.8 and d["detectable_drop"]["value"] > 0
