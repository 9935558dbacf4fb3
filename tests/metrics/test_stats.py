"""Single-run intervals: Wilson for 0/1 scores, the (cluster) bootstrap, the joint Level bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from clue_checks.report.numbers.levels import LEVELS, level_scores
from clue_checks.report.numbers import stats
from clue_checks.report.numbers.stats import bootstrap_p_value, cluster_sums, interval, joint_bootstrap, mean_ci, wilson


@given(st.integers(1, 3000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_equals_statsmodels(counts, confidence):
    successes, n = counts
    expected = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    assert wilson(successes, n, confidence) == pytest.approx(expected, abs=1e-12)


@given(st.lists(st.sampled_from([0.0, 1.0]), min_size=1, max_size=300))
def test_unclustered_0_1_scores_get_the_wilson_interval_never_zero_width(values):
    got = interval(values, binary=True)
    assert (got.low, got.high) == pytest.approx(wilson(sum(values), len(values)))
    assert got.low < got.high and got.low <= got.mean <= got.high
    assert got.method.startswith("Wilson score 95% interval over")


def test_a_constant_proportion_gets_a_real_interval():
    # `valid_codes 1.000 [1.000, 1.000]` claimed certainty from 499 samples
    all_right = interval([1.0] * 499, binary=True)
    assert all_right.high == 1.0 and 0.99 < all_right.low < 0.995
    # a constant 0-1 score that is not 0/1 per sample: Wilson is a conservative bound
    constant = interval([1.0] * 499)
    assert (constant.low, constant.high) == pytest.approx((all_right.low, all_right.high))
    assert "bootstrap would have zero width" in constant.method


def test_a_constant_clustered_proportion_counts_clusters_not_samples():
    clusters = [f"q{i // 5}" for i in range(2000)]  # 400 questions x 5 repeats
    got = interval([1.0] * 2000, clusters=clusters, binary=True)
    assert (got.low, got.high) == pytest.approx(wilson(400, 400))
    assert "400 clusters" in got.method


def test_one_sample_of_a_continuous_score_has_no_interval_and_one_0_1_sample_has_wilsons():
    assert interval([0.3]).low is None and interval([0.3]).method == "no interval: a single sample"
    assert interval([0.3, 0.5], clusters=["a", "a"]).method == "no interval: a single cluster"
    assert (interval([1.0], binary=True).low, interval([1.0], binary=True).high) == pytest.approx(wilson(1, 1))


def test_a_constant_value_outside_0_1_has_no_interval_and_says_why():
    got = interval([2.5] * 10)
    assert got.low is None and got.high is None and got.method.startswith("no interval")


def test_clustered_interval_names_its_method_and_is_wider_than_pretending_independence():
    rng = np.random.default_rng(1)
    p = rng.beta(0.3, 0.2, size=400)
    values = (rng.random((400, 5)) < p[:, None]).astype(float).ravel()
    clusters = [f"q{i // 5}" for i in range(2000)]
    clustered = interval(values, clusters=clusters, binary=True)
    naive = interval(values, binary=True)
    assert clustered.method.startswith("cluster bootstrap over 400 clusters")
    assert (clustered.high - clustered.low) > 1.5 * (naive.high - naive.low)


def test_mean_ci_is_unchanged_for_existing_callers():
    values = [0.1, 0.5, 0.2, 0.9, 0.4]
    assert mean_ci(values) == mean_ci(values, clusters=None)
    assert interval(values).low == mean_ci(values)[1]


def mean_ci_in_one_draw(values, clusters, seed, resamples):
    """mean_ci as it drew every resample at once before it drew them in blocks."""
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    if clusters is None:
        means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    else:
        sums, counts = cluster_sums(data, clusters)
        picks = rng.integers(0, len(sums), size=(resamples, len(sums)))
        means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    alpha = (1.0 - 0.95) / 2  # as mean_ci computes it (0.025000000000000022)
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(data.mean()), float(low), float(high)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=40), st.booleans(), st.integers(1, 90),
       st.integers(0, 2**32 - 1), st.integers(1, 300))
def test_drawing_in_blocks_gives_the_interval_of_one_draw_to_the_bit(values, clustered, budget, seed, resamples):
    clusters = [f"q{i // 3}" for i in range(len(values))] if clustered else None
    if clustered and len(set(clusters)) < 2:
        clusters = None
    expected = mean_ci_in_one_draw(values, clusters, seed, resamples)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stats, "DRAWS_PER_BLOCK", budget)  # blocks of one row up to all rows at once
        assert mean_ci(values, clusters=clusters, seed=seed, resamples=resamples) == expected


def test_a_large_task_is_bootstrapped_in_bounded_memory():
    import tracemalloc

    values = np.random.default_rng(3).random(20_000).tolist()
    tracemalloc.start()
    try:
        mean_ci(values)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2**20, peak  # all 1,000 resamples at once: 160 MB of indices and 160 MB of values


# -- coverage -------------------------------------------------------------------------------
# 400 simulated runs each: at a true coverage of 95% the observed share has a Monte Carlo standard
# error of 1.1 points, so a bound of 92% fails a correct interval with well under 1% probability and
# catches one that covers 90% or less. Full-size numbers (more simulations): docs/statistics.md.

SIMS = 400


def longhealth_like(rng, questions=400, repeats=5, mean=0.6, concentration=0.5):
    """Per-question chance of a right answer ~ Beta; repeats of a question are correlated through it
    (intra-class correlation 1 / (1 + concentration) = 0.67, like the fixtures' 0.73-1.00)."""
    p = rng.beta(mean * concentration, (1 - mean) * concentration, size=questions)
    return (rng.random((questions, repeats)) < p[:, None]).astype(float).ravel()


def test_the_clustered_longhealth_interval_covers_the_truth_and_the_naive_one_does_not():
    rng = np.random.default_rng(7)
    clusters = [f"q{i // 5}" for i in range(2000)]
    hits_clustered = hits_naive = 0
    for sim in range(SIMS):
        values = longhealth_like(rng)
        c = interval(values, clusters=clusters, binary=True, seed=sim)
        n = interval(values, binary=True)
        hits_clustered += c.low <= 0.6 <= c.high
        hits_naive += n.low <= 0.6 <= n.high
    assert hits_clustered / SIMS >= 0.92
    assert hits_naive / SIMS < 0.85  # what the report printed before: the check can fail


def test_mean_ci_covers_a_skewed_score_at_problem_summary_size():
    rng = np.random.default_rng(3)
    hits = 0
    for sim in range(SIMS):
        values = rng.beta(2, 6, size=234)  # ROUGE-L-like: skewed, mean 0.25
        _, low, high = mean_ci(values, seed=sim)
        hits += low <= 0.25 <= high
    assert hits / SIMS >= 0.92


# -- the joint bootstrap --------------------------------------------------------------------


def test_a_cluster_shared_by_two_keys_is_drawn_once_for_both():
    values = [0.0, 1.0, 0.3, 0.7, 0.5]
    ids = ["a", "b", "c", "d", "e"]
    joint = joint_bootstrap({"t1": (values, ids), "t2": (values, ids)}, resamples=200)
    assert np.array_equal(joint.replicates[:, 0], joint.replicates[:, 1])
    separate = joint_bootstrap({"t1": (values, ids), "t2": (values, [i + "x" for i in ids])}, resamples=200)
    assert not np.array_equal(separate.replicates[:, 0], separate.replicates[:, 1])
    assert joint.n_units == 5 and separate.n_units == 10


def test_each_stratum_keeps_its_size():
    # a key whose every sample has the same value: any resample of it keeps the mean exactly
    joint = joint_bootstrap({"a": ([1.0] * 7, None), "b": ([0.0, 1.0] * 5, None)}, resamples=300)
    assert np.all(joint.replicates[:, 0] == 1.0)
    assert joint.n_strata == 2 and joint.n_samples == 17


def test_the_joint_bootstrap_of_one_key_matches_the_cluster_bootstrap_in_spread():
    rng = np.random.default_rng(5)
    values = longhealth_like(rng)
    clusters = [f"q{i // 5}" for i in range(2000)]
    joint = joint_bootstrap({"x": (values, clusters)}, resamples=4000)
    _, low, high = mean_ci(values, clusters=clusters, resamples=4000)
    assert np.quantile(joint.replicates[:, 0], [0.025, 0.975]) == pytest.approx([low, high], abs=0.01)


def level_two(rng, joint_answers: bool):
    """Level 2 inputs where LongHealth tasks 1-3 answer the same 400 questions alike (or not)."""
    base = longhealth_like(rng)
    values, clusters = {}, {}
    for t in ("longhealth-t1", "longhealth-t2", "longhealth-t3"):
        values[(t, "accuracy")] = list(base if joint_answers else longhealth_like(rng))
        clusters[(t, "accuracy")] = [f"longhealth:q{i // 5}" for i in range(2000)]
    for key in (("medisumqa", "rougeL"), ("medisumcode", "icd_ap_f1")):
        values[key] = list(rng.beta(2, 6, size=400))
        clusters[key] = [None] * 400
    return values, clusters


def test_level_two_draws_a_longhealth_question_once_for_tasks_1_to_3():
    values, clusters = level_two(np.random.default_rng(11), joint_answers=True)
    (_, joint) = level_scores(values, clusters=clusters)
    (_, separate) = level_scores(values, clusters={k: [c and f"{k[0]}/{c}" for c in v] for k, v in clusters.items()})
    (_, naive) = level_scores(values)
    width = lambda lv: lv.ci_high - lv.ci_low  # noqa: E731
    assert width(joint) > 1.3 * width(separate) > 1.3 * width(naive)
    assert "cluster shared by tasks is drawn once" in joint.method
    assert joint.value == separate.value == naive.value


def test_level_components_must_have_one_cluster_id_per_value():
    values = {key: [0.5, 0.6] for _, parts in LEVELS[1] for key in parts}
    with pytest.raises(ValueError, match="cluster ids"):
        level_scores(values, clusters={("mednli", "accuracy"): ["a"]})


# -- the bootstrap p-value ------------------------------------------------------------------


@settings(max_examples=50)
@given(st.floats(-0.2, 0.2), st.floats(0.001, 0.1))
def test_bootstrap_p_value_agrees_with_the_percentile_interval(centre, spread):
    replicates = np.random.default_rng(0).normal(centre, spread, size=4000)
    low, high = np.quantile(replicates, [0.025, 0.975])
    p = bootstrap_p_value(replicates)
    if low > 0 or high < 0:  # 0 outside the interval: significant (up to a replicate or two)
        assert p <= 0.0505
    else:
        assert p >= 0.0495


def test_all_zero_replicates_give_p_one():
    assert bootstrap_p_value(np.zeros(1000)) == 1.0
