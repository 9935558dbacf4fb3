"""Paired comparison of a run against a baseline: McNemar, Tango, the paired (cluster) bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from scipy.stats import bootstrap as scipy_bootstrap
from scipy.stats import norm
from statsmodels.stats.contingency_tables import mcnemar

from clue_checks.report.aggregate import SampleRecord
from clue_checks.report.comparison import (
    broke_fixed, compare_levels, compare_runs, compare_task, mcnemar_p, paired_difference, tango_interval,
)
from clue_checks.report.levels import LEVELS


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
    c = paired_difference(new, base)
    table = [[np.sum((new == 1) & (base == 1)), np.sum((new == 1) & (base == 0))],
             [np.sum((new == 0) & (base == 1)), np.sum((new == 0) & (base == 0))]]
    assert c.discordant == (table[1][0], table[0][1])
    assert c.p_value == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-12)
    assert c.difference == pytest.approx(new.mean() - base.mean())
    assert c.ci_low <= c.difference <= c.ci_high and c.ci_low < c.ci_high


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


def test_identical_runs_differ_by_exactly_nothing():
    rng = np.random.default_rng(0)
    acc = list((rng.random(300) < 0.7).astype(float))
    rouge = list(rng.beta(2, 6, 300))
    lh = list((rng.random(100) < 0.6).astype(float))
    lh_clusters = [f"longhealth:q{i // 5}" for i in range(100)]
    for task, values, metric, clusters in (("mednli", acc, "accuracy", None), ("meqsum", rouge, "rougeL", None),
                                            ("longhealth-t1", lh, "accuracy", lh_clusters)):
        run = records(task, values, metric=metric, clusters=clusters)
        c = compare_task(run, run, task, metric, resamples=2000)
        assert c.difference == 0 and c.p_value == 1.0 and c.complete
        if c.resamples:  # the bootstrap of differences that are all 0
            assert (c.ci_low, c.ci_high, c.one_sided_low) == (0, 0, 0)
            assert "every paired difference is 0" in c.method
        else:
            assert c.ci_low < 0 < c.ci_high and c.discordant == (0, 0)


def test_missing_samples_make_the_comparison_incomplete_and_are_named():
    base = records("mednli", [1, 0, 1, 1], ids=["a", "b", "c", "d"])
    new = records("mednli", [1, 0, 1], ids=["a", "b", "e"])
    new.append(SampleRecord("mednli", "c", 3, "error", reason="HTTP 500"))
    c = compare_task(new, base, "mednli", "accuracy")
    assert c.n == 2 and c.missing_in_new == ("c", "d") and c.missing_in_baseline == ("e",) and not c.complete
    none = compare_task(records("mednli", [1], ids=["x"]), base, "mednli", "accuracy")
    assert none.n == 0 and none.difference is None and "no sample of mednli" in none.not_computed


def test_clustered_binary_uses_the_cluster_bootstrap():
    clusters = [f"longhealth:q{i // 5}" for i in range(50)]
    base = records("longhealth-t1", [1.0] * 50, clusters=clusters)
    new = records("longhealth-t1", [0.0] * 5 + [1.0] * 45, clusters=clusters)
    c = compare_task(new, base, "longhealth-t1", "accuracy", resamples=2000)
    assert c.n_clusters == 10 and c.clustered and c.discordant == (5, 0)
    assert c.method.startswith("paired cluster bootstrap") and "10 clusters of 50 pairs" in c.method
    assert c.resamples == 2000 and c.seed == 20240411


def test_kind_binary_refuses_values_that_are_not_0_or_1():
    run = records("meqsum", [0.5, 0.2], metric="rougeL")
    with pytest.raises(ValueError, match="all 0 or 1"):
        compare_task(run, run, "meqsum", "rougeL", kind="binary")


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_paired_bootstrap_interval_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    base = rng.beta(2, 6, 200)
    new = np.clip(base + rng.normal(-0.02, 0.08, 200), 0, 1)
    c = compare_task(records("meqsum", list(new), metric="rougeL"), records("meqsum", list(base), metric="rougeL"),
                     "meqsum", "rougeL")
    ref = scipy_bootstrap((new - base,), np.mean, n_resamples=10_000, method="percentile",
                          random_state=np.random.default_rng(seed)).confidence_interval
    # two 10,000-resample bootstraps: their percentiles differ by about 0.04 standard errors (Monte Carlo)
    se = (ref.high - ref.low) / 3.92
    assert c.ci_low == pytest.approx(ref.low, abs=0.2 * se) and c.ci_high == pytest.approx(ref.high, abs=0.2 * se)
    assert c.difference == pytest.approx(float(np.mean(new - base)))
    assert c.se == pytest.approx(se, rel=0.05)


def test_the_seed_makes_the_bootstrap_reproducible_and_is_reported():
    rng = np.random.default_rng(2)
    base, new = records("meqsum", list(rng.random(80)), metric="rougeL"), records("meqsum", list(rng.random(80)),
                                                                                    metric="rougeL")
    a = compare_task(new, base, "meqsum", "rougeL", seed=5, resamples=1000)
    assert a == compare_task(list(reversed(new)), base, "meqsum", "rougeL", seed=5, resamples=1000)
    assert a != compare_task(new, base, "meqsum", "rougeL", seed=6, resamples=1000)
    assert a.as_dict()["seed"] == 5 and "seed 5" in a.method


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
                else:
                    clusters = None
                    values = list(np.clip(rng.beta(2, 6, 120) - drop, 0, 1))
                out += records(task, values, metric=metric, clusters=clusters)
    return out


def test_level_deltas_of_identical_runs_are_zero_and_of_a_worse_run_significant():
    rng = np.random.default_rng(4)
    run = full_run(rng)
    for lv in compare_levels(run, run, resamples=2000):
        assert lv.difference == 0 and lv.p_value == 1.0 and (lv.ci_low, lv.ci_high) == (0, 0)
    worse = [SampleRecord(r.task, r.sample_id, r.index, r.outcome, {k: max(v - 0.1, 0.0) for k, v in r.metrics.items()},
                          cluster=r.cluster) for r in run]
    for lv in compare_levels(worse, run, resamples=2000):
        assert lv.difference < 0 and lv.ci_high < 0 and lv.p_value < 0.01
        assert lv.new - lv.baseline == pytest.approx(lv.difference)


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


def test_paired_cluster_bootstrap_covers_a_longhealth_drop_with_correlated_repeats():
    rng = np.random.default_rng(22)
    clusters = [f"longhealth:q{i // 5}" for i in range(2000)]
    hits = naive_hits = 0
    for sim in range(SIMS):
        u = rng.beta(0.3, 0.2, size=400)  # repeats of one question share its difficulty
        base = (rng.random((400, 5)) < u[:, None]).astype(float)
        # the new model answers most questions as the baseline did; on the others, all repeats alike
        changed = rng.random((400, 1)) < 0.15
        new = np.where(changed, np.broadcast_to(rng.random((400, 1)) < 0.8 * u[:, None], (400, 5)), base)
        true = -0.15 * 0.2 * 0.6  # E[new] = 0.85 E[u] + 0.15 * 0.8 E[u]
        c = paired_difference(new.ravel(), base.ravel(), clusters, seed=sim, resamples=1000)
        hits += c.ci_low <= true <= c.ci_high
        lo, hi = tango_interval(c.broke, c.fixed, c.n)  # as if the 2,000 prompts were independent
        naive_hits += lo <= true <= hi
    assert hits / SIMS >= 0.92
    assert naive_hits / SIMS < 0.88  # the check can fail: ignoring the clusters undercovers


def test_paired_bootstrap_covers_a_rouge_drop_at_meqsum_size():
    rng = np.random.default_rng(23)
    hits = 0
    for sim in range(SIMS):
        base = rng.beta(2, 6, 997)
        new = 0.9 * base + 0.1 * rng.beta(1, 6, 997)  # E = 0.225 + 0.1/7
        c = paired_difference(new, base, seed=sim, resamples=1000)
        hits += c.ci_low <= (0.225 + 0.1 / 7 - 0.25) <= c.ci_high
    assert hits / SIMS >= 0.92
