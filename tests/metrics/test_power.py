"""Power and sample size of the exact McNemar test, checked by brute force and by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clue_checks.report.compare.mcnemar import mcnemar_p, tango_interval
from clue_checks.report.numbers.power import (
    TASK_SIZES, critical_broke, mcnemar_detectable_drop, mcnemar_power, mcnemar_sample_size, tango_power,
    tango_sample_size,
)


@settings(max_examples=30)
@given(st.integers(0, 400), st.sampled_from([(0.05, 1), (0.05, 2), (0.01, 2)]))
def test_the_critical_count_is_where_the_exact_test_starts_to_reject(d, test):
    alpha, sided = test
    k = int(critical_broke(np.array([d]), alpha, sided)[0])
    tested = 2 if sided == 2 else 1  # one-sided p is half the two-sided McNemar p when broke > fixed
    rejects = [mcnemar_p(b, d - b) / (2 / tested) <= alpha and b > d - b for b in range(d + 1)]
    assert rejects == [b >= k for b in range(d + 1)]


def test_power_matches_a_simulation_of_the_test():
    # n = 1,419 (MedNLI), true drop 2 points, the models disagree on 10% of items
    rng = np.random.default_rng(0)
    sims = 4000
    counts = rng.multinomial(1419, [0.75, 0.04, 0.06, 0.15], size=sims)  # both right, fixed, broke, both wrong
    for sided in (1, 2):
        rejected = sum(b > f and mcnemar_p(int(b), int(f)) * (0.5 if sided == 1 else 1) <= 0.05
                       for _, f, b, _ in counts)
        exact = mcnemar_power(1419, 0.02, 0.10, sided=sided)
        assert rejected / sims == pytest.approx(exact, abs=3 * np.sqrt(exact * (1 - exact) / sims))


def test_the_issues_power_figures_at_mednli_size():
    # a 2-point drop at n = 1,419 with 5% / 10% / 20% disagreement (two-sided exact McNemar)
    got = [mcnemar_power(1419, 0.02, psi) for psi in (0.05, 0.10, 0.20)]
    assert got == pytest.approx([0.91, 0.64, 0.37], abs=0.01)


@pytest.mark.parametrize("drop,discordance,sided", [(0.02, 0.10, 2), (0.02, 0.10, 1), (0.05, 0.2, 2), (0.01, 0.03, 1)])
def test_sample_size_is_the_first_n_with_80_percent_power(drop, discordance, sided):
    n = mcnemar_sample_size(drop, discordance, sided=sided)
    assert mcnemar_power(n, drop, discordance, sided=sided) >= 0.8
    assert mcnemar_power(n - 1, drop, discordance, sided=sided) < 0.8


def test_detectable_drop_has_80_percent_power():
    drop = mcnemar_detectable_drop(1419, 0.10)
    assert mcnemar_power(1419, drop, 0.10) == pytest.approx(0.8, abs=1e-3)
    assert mcnemar_detectable_drop(1419, 0.10, sided=1) < drop
    assert mcnemar_detectable_drop(5, 0.01) is None  # 5 pairs: no drop is detectable


def test_sizes_are_refused_outside_their_range():
    with pytest.raises(ValueError, match="between 0 and the discordance"):
        mcnemar_power(100, 0.2, 0.1)
    with pytest.raises(ValueError, match="discordance"):
        mcnemar_power(100, 0.0, 0.0)
    assert mcnemar_sample_size(0.0, 0.1) is None


def test_tango_power_matches_a_simulation_of_the_noninferior_gate():
    # an equal model at n = 1,419 with 10% disagreement, noninferior 0.02: the gate reads Tango's 90% low end
    rng = np.random.default_rng(1)
    sims = 3000
    counts = rng.multinomial(1419, [0.7, 0.05, 0.05, 0.2], size=sims)
    passed = sum(tango_interval(int(b), int(f), 1419, 0.90, ends="low")[0] > -0.02 for _, f, b, _ in counts)
    exact = tango_power(1419, 0.02, 0.10)
    assert passed / sims == pytest.approx(exact, abs=3 * np.sqrt(exact * (1 - exact) / sims))
    assert tango_power(1419, 0.02, 0.10) < mcnemar_power(1419, 0.02, 0.10, sided=1) + 0.05


def test_task_sizes_are_clues_scored_samples():
    assert TASK_SIZES["mednli"].n == 1419 and TASK_SIZES["longhealth-t1"].independent == 400


# -- clue power -----------------------------------------------------------------------------


def test_clue_power_answers_for_a_task(capsys):
    from clue_checks.cli import main

    # 5% disagreement: Tango's exact power, summed over d, costs a fraction of what 10% costs to bisect on
    assert main(["power", "--task", "mednli", "--drop", "0.02", "--discordance", "0.05"]) == 0
    out = capsys.readouterr().out
    need_ni, need_nr = tango_sample_size(0.02, 0.05), mcnemar_sample_size(0.02, 0.05, sided=2)
    lines = out.splitlines()
    (ni,) = [line for line in lines if line.strip().startswith("noninferior 0.02")]
    (nr,) = [line for line in lines if line.strip().startswith("no regression")]
    assert f"{need_ni:,}" in ni and "one-sided" in ni and f"{need_nr:,}" in nr and "two-sided" in nr
    # each row with its gate's own test: Tango's bound for noninferior, exact McNemar for no regression
    assert f"{tango_power(1419, 0.02, 0.05):.1%}" in ni and f"{mcnemar_power(1419, 0.02, 0.05):.1%}" in nr
    assert "n = 1,419" in out


@pytest.mark.parametrize("argv,message", [
    (["--task", "meqsum", "--drop", "0.01"], "give --sd"),
    (["--drop", "0.01", "--discordance", "0.1"], "give --task"),
    (["--task", "mednli", "--drop", "0.2", "--discordance", "0.1"], "at least --drop"),
    (["--task", "mednli", "--drop", "0.02"], "give --discordance"),
])
def test_clue_power_usage_errors_say_what_to_give(argv, message, capsys):
    from clue_checks.cli import main

    assert main(["power", *argv]) == 2
    assert message in capsys.readouterr().err


def test_clue_power_for_a_continuous_score(capsys):
    from clue_checks.cli import main

    assert main(["power", "--task", "meqsum", "--drop", "0.01", "--sd", "0.12"]) == 0
    out = capsys.readouterr().out
    assert "normal approximation" in out and "(1 point)" in out
