"""A CLUE run pays only for what it uses: scipy (~0.5 s to import) is for comparisons, not for every run."""

from __future__ import annotations

import subprocess
import sys

# Every module a run imports to collect, score and write its report when nothing is compared.
RUN_MODULES = ("clue_checks.plugin", "clue_checks.roles.adapters", "clue_checks.roles.xdist_worker",
               "clue_checks.roles.baseline", "clue_checks.report.numbers.aggregate", "clue_checks.report.write.pieces",
               "clue_checks.report.compare.baseline", "clue_checks.report.write.html", "clue_checks.report.write.outcome",
               "clue_checks.runner", "clue_checks.tasks.mednli")


def test_a_run_without_a_baseline_does_not_import_scipy():
    code = (f"import importlib, sys\nfor m in {RUN_MODULES!r}: importlib.import_module(m)\n"
            "from clue_checks.report.numbers.stats import interval, wilson\n"
            "wilson(3, 10); interval([0.0, 1.0, 1.0], binary=True)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'statsmodels')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_comparison_still_computes_with_scipy_imported_where_used():
    from clue_checks.report.compare.mcnemar import mcnemar_p, tango_interval
    from clue_checks.report.numbers.power import mcnemar_power, normal_detectable_drop

    assert mcnemar_p(0, 0) == 1.0 and mcnemar_p(10, 0) < 0.01
    low, high = tango_interval(10, 2, 100)
    assert -1 < low < -0.08 < high < 0
    assert 0 < mcnemar_power(1419, 0.02, 0.1) < 1 and normal_detectable_drop(0.01) > 0.02
