"""Paired comparison of a run against a baseline: McNemar, Tango, the sign-flip test by unit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from scipy.stats import norm
from statsmodels.stats.contingency_tables import mcnemar

from clue_checks.record import SampleRecord
from clue_checks.report.compare.level_comparison import compare_levels
from clue_checks.report.compare.mcnemar import mcnemar_p, tango_interval
from clue_checks.report.compare.paired import broke_fixed, compare_runs, compare_task, paired_difference
from clue_checks.report.compare.pairing import resampling_unit
from clue_checks.report.numbers.levels import LEVELS


def records(task, values, *, metric="accuracy", clusters=None, outcomes=None, ids=None):
    ids = ids or [f"s{i}" for i in range(len(values))]
    return [SampleRecord(task, sid, i, (outcomes[i] if outcomes else ("passed" if v else "failed")),
                         metrics={metric: v}, cluster=clusters[i] if clusters else None)
            for i, (sid, v) in enumerate(zip(ids, values))]


# -- McNemar and Tango against references ---------------------------------------------------


@given(st.integers(0, 400), st.integers(0, 400))
def test_mcnemar_p_equals_statsmodels_exact(broke, fixed):
    expected = mcnemar([[50, fixed], [broke, 50]], exact=True).pvalue
    assert mcnemar_p(broke, fixed) == pytest.approx(expected, rel=1e-12, abs=1e-300)


@given(st.lists(st.tuples(st.sampled_from([0.0, 1.0]), st.sampled_from([0.0, 1.0])), min_size=1, max_size=300))
def test_paired_0_1_runs_get_statsmodels_exact_mcnemar(pairs):
    new, base = (np.array(side) for side in zip(*pairs))
    c = paired_difference(new, base, kind="binary")
    table = [[np.sum((new == 1) & (base == 1)), np.sum((new == 1) & (base == 0))],
             [np.sum((new == 0) & (base == 1)), np.sum((new == 0) & (base == 0))]]
    assert c.discordant == (table[1][0], table[0][1]) and c.differing == table[1][0] + table[0][1]
    assert c.p_value == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-12)
    assert c.difference == pytest.approx(new.mean() - base.mean())
    if c.differing < 6:  # no outcome of 5 pairs reaches p < 0.05: no interval, the exact p and why
        assert c.ci_low is None and "no interval" in c.no_interval and c.one_sided_low is not None
    else:
        assert c.ci_low <= c.difference <= c.ci_high and c.ci_low < c.ci_high
        assert (c.ci_high < 0 or c.ci_low > 0) == (c.p_value < 0.05)


def restricted_score(broke, fixed, n, d):
    """The Tango score statistic with the restricted maximum likelihood found numerically (not by the
    closed form the implementation uses)."""
    concordant = n - broke - fixed
    lo, hi = max(0.0, -d), (1 - d) / 2  # the chance q of a "broke" pair keeps every cell a probability

    def nll(q):
        cells = [(fixed, q + d), (broke, q), (concordant, 1 - 2 * q - d)]
        return -sum(k * math.log(max(p, 1e-300)) for k, p in cells if k)

    q = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}).x
    return (fixed - broke - n * d) / math.sqrt(n * (2 * q + d * (1 - d)))


@settings(max_examples=60)
@given(st.integers(1, 2000).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))).flatmap(
    lambda t: st.tuples(st.just(t[0]), st.integers(0, t[1]), st.just(t[1]))))
def test_tango_limits_are_where_the_score_statistic_reaches_z(case):
    n, broke, discordant = case
    fixed = discordant - broke
    low, high = tango_interval(broke, fixed, n)
    estimate = (fixed - broke) / n
    assert -1 <= low <= estimate <= high <= 1
    assert low < high  # never zero width, even with no discordant pairs
    z = norm.ppf(0.975)
    if low > -1:
        assert restricted_score(broke, fixed, n, low) == pytest.approx(z, abs=2e-3)
    if high < 1:
        assert restricted_score(broke, fixed, n, high) == pytest.approx(-z, abs=2e-3)


def test_tango_reproduces_the_published_example():
    # Bentur et al. 2009 (airway hyper-responsiveness before/after transplant, n = 21, discordant 1 and 7), the
    # worked example of Fagerland, Lydersen & Laake, "Recommended tests and confidence intervals for paired
    # binomial proportions" (Statistics in Medicine, 2014): Tango's interval -0.517 to -0.026.
    low, high = tango_interval(broke=7, fixed=1, n=21)
    assert (round(low, 3), round(high, 3)) == (-0.517, -0.026)


@given(st.integers(1, 5000))
def test_no_discordant_pairs_give_plus_minus_z2_over_n_plus_z2(n):
    z2 = norm.ppf(0.975) ** 2
    assert tango_interval(0, 0, n) == pytest.approx((-z2 / (n + z2), z2 / (n + z2)), rel=1e-6)


# -- one task -------------------------------------------------------------------------------


def test_binary_task_reports_counts_mcnemar_and_tango():
    base = [1] * 60 + [0] * 40
    new = [1] * 50 + [0] * 10 + [1] * 4 + [0] * 36  # 10 broke, 4 fixed
    c = compare_task(records("mednli", new), records("mednli", base), "mednli", "accuracy")
    assert c.kind == "binary" and c.n == 100 and c.discordant == (10, 4)
    assert (c.new, c.baseline, c.difference) == pytest.approx((0.54, 0.60, -0.06))
    assert c.p_value == pytest.approx(mcnemar([[50, 4], [10, 36]], exact=True).pvalue)
    assert (c.ci_low, c.ci_high) == pytest.approx(tango_interval(10, 4, 100))
    assert c.one_sided_low == pytest.approx(tango_interval(10, 4, 100, 0.90)[0])
    assert c.ci_low < c.one_sided_low < c.difference
    assert c.method.startswith("exact McNemar") and c.resamples is None and c.complete


def test_identical_runs_differ_by_exactly_nothing_and_print_no_interval_for_either_kind():
    rng = np.random.default_rng(0)
    acc = list((rng.random(300) < 0.7).astype(float))
    rouge = list(rng.beta(2, 6, 300))
    lh = list((rng.random(100) < 0.6).astype(float))
    lh_clusters = [f"longhealth:p{i // 50}/q{i // 5}" for i in range(100)]
    for task, values, metric, clusters in (("mednli", acc, "accuracy", None), ("meqsum", rouge, "rougeL", None),
                                            ("longhealth-t1", lh, "accuracy", lh_clusters)):
        run = records(task, values, metric=metric, clusters=clusters)
        c = compare_task(run, run, task, metric)
        assert c.difference == 0 and c.p_value == 1.0 and c.complete and c.differing == 0
        assert (c.ci_low, c.ci_high) == (None, None) and c.no_interval
        assert c.one_sided_low is not None and c.one_sided_low < 0  # a non-inferiority bound all the same
        assert c.differ_text.startswith("0 of ")


def test_a_continuous_metric_keeps_its_test_when_its_values_happen_to_be_0_or_1():
    base = [1.0] * 50 + [0.0] * 50
    new = [0.0] * 10 + [1.0] * 40 + [0.0] * 50
    c = compare_task(records("meqsum", new, metric="rougeL"), records("meqsum", base, metric="rougeL"),
                     "meqsum", "rougeL")
    assert c.kind == "continuous" and c.method.startswith("paired sign-flip")
    b = compare_task(records("mednli", new), records("mednli", base), "mednli", "accuracy")
    assert b.kind == "binary" and b.method.startswith("exact McNemar")
    assert b.p_value == pytest.approx(c.p_value)  # ±1 differences: the sign-flip test is McNemar's


def test_one_longhealth_question_broken_on_every_shuffle_is_not_certainty():
    clusters = [f"longhealth:patient_{i // 100:02d}/q{i // 5:02d}" for i in range(2000)]
    base = [1.0] * 2000
    new = [0.0] * 5 + [1.0] * 1995
    for unit in ("patient", "question"):
        c = compare_task(records("longhealth-t1", new, clusters=clusters),
                         records("longhealth-t1", base, clusters=clusters), "longhealth-t1", "accuracy",
                         longhealth_unit=unit)
        assert c.p_value == 1.0 and c.ci_low is None and c.differing == 1
        assert c.n_clusters == (20 if unit == "patient" else 400) and c.unit == unit


def test_longhealth_resamples_the_patient_by_default():
    assert resampling_unit("longhealth:patient_03/q07") == "longhealth:patient_03"
    assert resampling_unit("longhealth:patient_03/q07", "question") == "longhealth:patient_03/q07"
    assert resampling_unit("medisumqa:note1") == "medisumqa:note1" and resampling_unit(None) is None
    with pytest.raises(ValueError, match="patient"):
        resampling_unit("x", "sample")


def test_missing_samples_make_the_comparison_incomplete_and_are_named():
    base = records("mednli", [1, 0, 1, 1], ids=["a", "b", "c", "d"])
    new = records("mednli", [1, 0, 1], ids=["a", "b", "e"])
    new.append(SampleRecord("mednli", "c", 3, "error", reason="HTTP 500"))
    c = compare_task(new, base, "mednli", "accuracy")
    assert c.n == 2 and c.missing_in_new == ("c", "d") and c.missing_in_baseline == ("e",) and not c.complete
    none = compare_task(records("mednli", [1], ids=["x"]), base, "mednli", "accuracy")
    assert none.n == 0 and none.difference is None and "no sample of mednli" in none.not_computed


def test_clustered_binary_uses_the_sign_flip_test_over_clusters():
    clusters = [f"longhealth:q{i // 5}" for i in range(50)]
    base = records("longhealth-t1", [1.0] * 50, clusters=clusters)
    new = records("longhealth-t1", [0.0] * 5 + [1.0] * 45, clusters=clusters)
    c = compare_task(new, base, "longhealth-t1", "accuracy")
    assert c.n_clusters == 10 and c.clustered and c.discordant == (5, 0) and c.differing == 1
    assert c.method.startswith("paired sign-flip") and "10 questions of 50 pairs" in c.method
    assert c.resamples is None and c.seed == 20240411 and c.p_value == 1.0


def test_kind_binary_refuses_values_that_are_not_0_or_1():
    run = records("meqsum", [0.5, 0.2], metric="rougeL")
    with pytest.raises(ValueError, match="all 0 or 1"):
        compare_task(run, run, "meqsum", "rougeL", kind="binary")


def test_few_changed_samples_get_the_exact_sign_flip_p_value():
    # MeQSum: 6 of 997 summaries changed, every one for the worse: p = 2 / 2^6 exactly
    rng = np.random.default_rng(3)
    base = rng.beta(2, 6, 997)
    new = base.copy()
    new[:6] -= 0.05
    c = paired_difference(new, base)
    assert c.p_value == pytest.approx(2 / 64) and c.resamples is None and c.differing == 6
    assert c.ci_high < 0 and c.p_text == "0.03125"
    new[6:9] += 0.2  # three improve: still exact, and no longer significant
    c = paired_difference(new, base)
    assert c.p_value > 0.05 and c.ci_low <= 0 <= c.ci_high and c.differ_text == "9 of 997 pairs differ"


def test_many_changed_samples_draw_sign_patterns_and_print_a_floor_as_a_bound():
    rng = np.random.default_rng(4)
    base = rng.beta(2, 6, 997)
    new = base - 0.05 + rng.normal(0, 0.02, 997)
    c = paired_difference(new, base, resamples=2000, seed=5)
    assert c.resamples == 2000 and c.p_floor == pytest.approx(1 / 2001)
    assert c.p_value == c.p_floor and c.p_text == "≤ 0.0005" and c.as_dict()["p_shown"] == "≤ 0.0005"
    assert c.ci_high < 0 and "2,000 random sign patterns, seed 5" in c.method


# -- levels, broke / fixed ------------------------------------------------------------------


def full_run(rng, drop=0.0, *, questions=40):
    """Both levels' tasks, small; `drop` lowers every headline score."""
    out = []
    for level in LEVELS.values():
        for _, parts in level:
            for task, metric in parts:
                if task.startswith("longhealth"):
                    clusters = [f"longhealth:q{i // 5}" for i in range(questions * 5)]
                    values = list((rng.random(questions * 5) < 0.6 - drop).astype(float))
                elif metric == "accuracy":
                    clusters = None
                    values = list((rng.random(120) < 0.6 - drop).astype(float))
                else:
                    clusters = None
                    values = list(np.clip(rng.beta(2, 6, 120) - drop, 0, 1))
                out += records(task, values, metric=metric, clusters=clusters)
    return out


def test_level_deltas_of_identical_runs_are_zero_and_of_a_worse_run_significant():
    rng = np.random.default_rng(4)
    run = full_run(rng)
    for lv in compare_levels(run, run, resamples=2000):
        assert lv.difference == 0 and lv.p_value == 1.0 and (lv.ci_low, lv.ci_high) == (None, None)
        assert lv.differing == 0
    worse = [SampleRecord(r.task, r.sample_id, r.index, r.outcome,
                          {k: (0.0 if rng.random() < 0.3 else v) if k == "accuracy" else max(v - 0.1, 0.0)
                           for k, v in r.metrics.items()}, cluster=r.cluster) for r in run]
    for lv in compare_levels(worse, run, resamples=2000):
        assert lv.difference < 0 and lv.ci_high < 0 and lv.p_value < 0.01
        assert lv.new - lv.baseline == pytest.approx(lv.difference)


def test_a_level_shares_a_longhealth_unit_across_tasks_and_marks_incomplete_tasks():
    run = full_run(np.random.default_rng(5))
    lh = {r.cluster for r in run if r.task.startswith("longhealth")}
    two = compare_levels(run, run)[1]
    # 40 questions of one patient id ("q0" ... "q39" carry no patient): each question is a unit, flipped
    # once for tasks 1-3; MeDiSumQA and MeDiSumCode's 120 samples each are their own units
    assert two.units == len(lh) + 240
    without_one = [r for r in run if not (r.task == "meqsum" and r.sample_id == "s0")]
    one, _ = compare_levels(without_one, run, resamples=1000)
    assert one.incomplete == ("meqsum",) and one.as_dict()["complete"] is False


def test_a_level_missing_a_task_on_one_side_is_not_compared():
    run = full_run(np.random.default_rng(1))
    without = [r for r in run if r.task != "mednli"]
    one, two = compare_levels(without, run, resamples=500)
    assert one.difference is None and "mednli.accuracy" in one.not_computed and two.difference is not None


def test_compare_runs_uses_each_tasks_headline_metric():
    run = full_run(np.random.default_rng(1))
    got = compare_runs(run, run, resamples=500)
    assert set(got) == {(t, m) for level in LEVELS.values() for _, parts in level for t, m in parts}


def test_broke_and_fixed_list_the_samples_that_changed_verdict():
    base = records("mednli", [1, 1, 0, 0, 1], ids=list("abcde"))
    new = records("mednli", [0, 1, 1, 0, 1], ids=list("abcde"))
    new[4] = SampleRecord("mednli", "e", 4, "error")
    assert broke_fixed(new, base) == {"mednli": (("a",), ("c",))}
    assert broke_fixed(new, []) == {}


# -- coverage at the benchmark's real sizes ----------------------------------------------------
# 400 simulated comparisons each: at a true coverage of 95% the observed share has a Monte Carlo
# standard error of 1.1 points, so >= 92% fails a correct interval with well under 1% probability.
# Full-size runs with more simulations: docs/statistics.md ("Coverage, measured").

SIMS = 400


def test_tango_covers_a_two_point_mednli_drop_at_n_1419():
    rng = np.random.default_rng(21)
    # cells: both right, fixed, broke, both wrong; disagreement 10%, true difference -0.02
    counts = rng.multinomial(1419, [0.70, 0.04, 0.06, 0.20], size=SIMS)
    hits = sum(lo <= -0.02 <= hi for lo, hi in (tango_interval(int(k), int(f), 1419) for _, f, k, _ in counts))
    assert hits / SIMS >= 0.92


def test_the_sign_flip_test_holds_its_level_when_few_samples_change():
    # MeQSum 997 with 10 changed summaries, equally good: p < 0.05 in at most 5% of runs (exactly: the
    # test is exact given the changed samples), checked with a 3-standard-error allowance
    rng = np.random.default_rng(23)
    rejected = 0
    for _ in range(SIMS):
        base = rng.beta(2, 6, 997)
        new = base.copy()
        new[:10] = rng.beta(2, 6, 10)
        rejected += paired_difference(new, base).p_value < 0.05
    assert rejected / SIMS <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / SIMS)


def test_the_inverted_interval_covers_a_longhealth_drop_by_patient():
    rng = np.random.default_rng(22)
    clusters = [f"longhealth:patient_{i // 100:02d}" for i in range(2000)]
    difficulty = lambda patients: np.clip(rng.beta(3, 2, (patients, 1)) + rng.normal(0, 0.25, (patients, 20)),  # noqa
                                          0.02, 0.98)
    truth = -0.15 * 0.2 * float(np.mean(difficulty(20_000)))  # 15% of questions re-answered 20% worse
    hits = printed = 0
    sims = 150
    for _ in range(sims):
        u = difficulty(20)
        base = rng.random((20, 20, 5)) < u[:, :, None]
        changed = rng.random((20, 20, 1)) < 0.15
        new = np.where(changed, rng.random((20, 20, 5)) < 0.8 * u[:, :, None], base)
        c = paired_difference(new.ravel().astype(float), base.ravel().astype(float), clusters, kind="binary")
        if c.ci_low is not None:
            printed += 1
            hits += c.ci_low <= truth <= c.ci_high
    # 150 runs: a 95% interval's share has a standard error of 1.8 points; 0.90 fails it rarely, 0.85 never
    assert printed > 0.9 * sims and hits / printed >= 0.90
