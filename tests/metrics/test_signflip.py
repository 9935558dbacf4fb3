"""The sign-flip randomisation test: exact p by brute force, drawn p near the exact one, an interval that
agrees with its p-value, no certainty from one or two units, and p-values printed as the draws allow."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clue_checks.report.numbers.signflip import format_p, min_differing, signflip, unit_contributions


def brute_force_p(a):
    nonzero = [x for x in a if x != 0]
    observed = abs(sum(nonzero))
    sums = [abs(sum(s * x for s, x in zip(signs, nonzero))) for signs in itertools.product((1, -1), repeat=len(nonzero))]
    return sum(s >= observed - 1e-12 for s in sums) / len(sums)


values = st.lists(st.one_of(st.just(0.0), st.floats(-1, 1).map(lambda x: round(x, 3)), st.sampled_from([-1.0, 1.0])),
                  min_size=1, max_size=14)


@settings(max_examples=60, deadline=None)
@given(values)
def test_the_exact_p_value_is_the_share_of_sign_patterns_as_extreme(diff):
    a, c = unit_contributions(diff)
    got = signflip(a, c)
    assert got.exact and got.p_value == pytest.approx(brute_force_p(diff), abs=1e-12)
    assert got.differing == sum(d != 0 for d in diff) and got.units == len(diff)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1, 1), min_size=6, max_size=40), st.integers(0, 3))
def test_a_printed_interval_excludes_0_exactly_when_p_is_below_005(diff, seed):
    a, c = unit_contributions(diff)
    got = signflip(a, c, seed=seed, p_draws=2000, interval_draws=2000)
    if got.low is None:
        assert got.differing < 6 and got.no_interval
        return
    assert got.low <= got.estimate <= got.high
    assert (got.low > 0 or got.high < 0) == (got.p_value < 0.05)
    assert got.one_sided_low >= got.low - 1e-5  # the 90% interval's low end lies inside the 95% one (root finding's tolerance)


def test_one_or_two_differing_units_give_the_exact_p_and_no_interval():
    one = signflip(*unit_contributions([0.0] * 399 + [-1.0]))
    assert one.p_value == 1.0 and one.low is None and "only 1 of 400 units differ" in one.no_interval
    two = signflip(*unit_contributions([0.0] * 398 + [-1.0, -1.0]))
    assert two.p_value == 0.5 and two.low is None
    assert min_differing() == 6 and min_differing(0.01) == 8


def test_a_drawn_p_value_is_close_to_the_exact_one(monkeypatch):
    from clue_checks.report.numbers import signflip as module

    diff = np.random.default_rng(0).normal(0.15, 1, 20)
    a, c = unit_contributions(diff)
    exact = signflip(a, c)
    assert exact.exact and exact.draws is None
    monkeypatch.setattr(module, "EXACT_UP_TO", 10)  # the same 20 units, drawn
    drawn = signflip(a, c, p_draws=40_000)
    assert not drawn.exact and drawn.draws == 40_000 and drawn.p_floor == pytest.approx(1 / 40_001)
    se = np.sqrt(exact.p_value * (1 - exact.p_value) / 40_000)
    assert abs(drawn.p_value - exact.p_value) < 4 * se + drawn.p_floor


def test_units_sum_their_samples_and_weigh_by_size():
    a, c = unit_contributions([1.0, -1.0, 0.5, 0.5], ["q1", "q1", "q2", None])
    assert list(a) == pytest.approx([0.0, 0.125, 0.125]) and list(c) == pytest.approx([0.5, 0.25, 0.25])


def test_p_values_print_as_their_method_allows():
    assert format_p(0.03125) == "0.03125" and format_p(1.0) == "1"
    assert format_p(1 / 40_001, 1 / 40_001, 40_000) == "≤ 0.00003"  # the floor is a bound, rounded up
    # only the digits the draws support: two decimals, a bound below 0.01
    assert format_p(0.0073, 1 / 100_001, 100_000) == "< 0.01" and format_p(0.0523, None, 100_000) == "0.05"
    assert format_p(0.4321, None, 100_000) == "0.4" and format_p(0.0951, None, 100_000) == "0.10"
    assert format_p(2e-5) == "< 0.0001" and format_p(None) == "—"
    assert format_p(1 / 100_001, 1 / 100_001, 100_000) == "≤ 0.00001"


def test_printed_digits_do_not_move_with_the_seed():
    rng = np.random.default_rng(5)
    diff = rng.normal(-0.004, 0.1, 997)  # every sample differs: drawn p, drawn interval
    a, c = unit_contributions(diff)
    shown = {(format_p(r.p_value, r.p_floor, r.draws), f"{r.low:.3f}", f"{r.high:.3f}")
             for r in (signflip(a, c, seed=s) for s in range(5))}
    assert len(shown) == 1
