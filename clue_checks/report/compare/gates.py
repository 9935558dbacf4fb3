"""The verdict of the [compare] gates: a run against its baseline, from the paired comparisons.

* ``noninferior m``: passes when the one-sided 95% lower bound of new − baseline is above −m (the
  lower end of the two-sided 90% interval made like the printed one; see :mod:`comparison`), else
  fails.
* ``no regression`` (``no regression m``; m defaults to `thresholds.NO_REGRESSION_MARGIN`, 0.02) is a
  non-inferiority rule that must not pass on absence of evidence:
  - **fail** on a significant drop: the two-sided p-value, Holm-adjusted across every `no regression`
    gate tested in the run (any regression blocks), at most 0.05 with the difference below 0;
  - **pass** when the drop is shown to be smaller than m: the one-sided 95% lower bound above −m;
  - **inconclusive** otherwise (never a pass): the test could not have told a drop of m from none. The
    result says the drop it could detect at 80% power and about how many units would be needed.
  Requiring every gate to pass controls the chance of a false pass without a correction
  (intersection-union); Holm controls the chance that any equal task is failed.

Neither passes unless both runs scored the whole task: a comparison with samples missing on either
side, or on part of the task, is "incomplete" (it says which way it would go); a gate whose task was
not compared is "not run".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clue_checks.score_display import shown_for_verdict
from clue_checks.report.compare.paired import PairedComparison
from clue_checks.report.numbers.power import ALPHA, POWER, Detectable, detectable_drop, units_needed
from clue_checks.report.numbers.thresholds import CompareGate

#: gate statuses; only "pass" is a pass
STATUSES = ("pass", "fail", "inconclusive", "incomplete", "not run")


@dataclass(frozen=True)
class CompareGateResult:
    gate: CompareGate
    status: str  # one of STATUSES
    detail: str
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    one_sided_low: float | None = None
    p_value: float | None = None
    p_holm: float | None = None  # no regression: Holm-adjusted across the family
    detectable_drop: float | None = None  # at 80% power; None: see detectable_how
    detectable_how: str = ""
    margin: float | None = None  # the drop the gate guards against
    units_needed: int | None = None  # inconclusive: units for 80% power to show the margin
    p_shown: str = ""  # the p-value as printed (a bound at a drawn p's floor)
    differing: str = ""  # "k of n units differ"

    def as_dict(self) -> dict[str, Any]:
        return {"gate": self.gate.name, "status": self.status, "detail": self.detail, "difference": self.difference,
                "ci95": [self.ci_low, self.ci_high], "one_sided_low95": self.one_sided_low,
                "p_value": self.p_value, "p_shown": self.p_shown, "p_holm": self.p_holm, "margin": self.margin,
                "differing": self.differing, "units_needed": self.units_needed,
                "detectable_drop": {"value": self.detectable_drop, "power": POWER, "how": self.detectable_how}}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values: the i-th smallest times (m − i), made monotone, capped at 1."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def evaluate_compare_gates(gates: Iterable[CompareGate], comparisons: Mapping[tuple[str, str], PairedComparison],
                           *, partial: Mapping[str, str] | None = None, no_baseline: str | None = None,
                           alpha: float = ALPHA) -> list[CompareGateResult]:
    """One result per gate, in order.

    `comparisons[(task, metric)]`: from :func:`comparison.compare_task` (absent: not compared).
    `partial[task]`: why the new run scored only part of the task (a subset selected, samples never
    ran, errors): its gates are incomplete. `no_baseline`: why there is no baseline at all (every
    gate is then "not run" with that reason).
    """
    gates = list(gates)
    partial = partial or {}
    family = [g for g in gates if g.rule == "no regression" and _tested(comparisons.get((g.task, g.metric)))]
    adjusted = dict(zip(family, holm([comparisons[(g.task, g.metric)].p_value for g in family])))  # type: ignore[misc]
    results = []
    for gate in gates:
        c = comparisons.get((gate.task, gate.metric))
        if no_baseline is not None:
            results.append(CompareGateResult(gate, "not run", no_baseline, margin=gate.tolerance))
        elif c is None:
            results.append(CompareGateResult(gate, "not run", f"{gate.task}.{gate.metric} was not compared: the task "
                                                              "did not run in both runs", margin=gate.tolerance))
        elif c.not_computed is not None:
            status = "incomplete" if c.missing_in_new or c.missing_in_baseline or gate.task in partial else "fail"
            results.append(CompareGateResult(gate, status, f"not compared: {c.not_computed}", margin=gate.tolerance))
        else:
            results.append(_judge(gate, c, adjusted.get(gate), len(family), partial.get(gate.task), alpha))
    return results


def _tested(c: PairedComparison | None) -> bool:
    return c is not None and c.p_value is not None


def _judge(gate: CompareGate, c: PairedComparison, p_holm: float | None, family: int, partial: str | None,
           alpha: float) -> CompareGateResult:
    margin = gate.tolerance
    sided = 1 if gate.rule == "noninferior" else 2
    power = detectable_drop(c, sided=sided, alpha=alpha)
    need = units_needed(c, margin)
    interval = (f"[95% {c.ci_low:+.3f}, {c.ci_high:+.3f}]" if c.ci_low is not None and c.ci_high is not None
                else f"(no interval: {c.no_interval})")
    seen = (f"difference {c.difference:+.4f} {interval} over {c.n} pairs, {c.differ_text}"
            + (f" ({c.broke} broke, {c.fixed} fixed)" if c.broke is not None else ""))
    bound = _bound_text(c, margin)
    if gate.rule == "noninferior":
        ok = c.one_sided_low is not None and c.one_sided_low > -margin
        status = "pass" if ok else ("fail" if c.one_sided_low is not None else "inconclusive")
        why = bound
    else:
        assert c.p_value is not None and p_holm is not None
        at_floor = "≤ " if c.p_text.startswith("≤") else ""  # a drawn p at its floor: the adjusted one is a bound
        held = "" if family == 1 else f", Holm-adjusted {at_floor}{_p(p_holm)} across {family} gates"
        p_part = f"p {c.p_text if at_floor else '= ' + c.p_text}{held}"
        if c.difference is not None and c.difference < 0 and p_holm <= alpha:
            status, why = "fail", f"{p_part}: a significant drop"
        elif c.one_sided_low is not None and c.one_sided_low > -margin:
            status, why = "pass", f"{p_part}: no significant drop, and {bound}: a drop of {margin:g} is ruled out"
        else:
            status = "inconclusive"
            why = (f"{p_part}: no significant drop, but {bound}: a drop of {margin:g} cannot be ruled out, so this "
                   f"comparison cannot tell no regression from one")
    could = _could(power, need, margin, c)
    problems = []
    if c.missing_in_new:
        problems.append(f"{len(c.missing_in_new)} baseline sample(s) not scored in the new run")
    if c.missing_in_baseline:
        problems.append(f"{len(c.missing_in_baseline)} sample(s) not scored in the baseline")
    if partial:
        problems.append(partial)
    if problems:
        detail = (f"{seen}; {why}: would be {status}, but {', '.join(problems)}: a comparison gate "
                  f"needs the whole task in both runs; {could}")
        status = "incomplete"
    else:
        detail = f"{seen}; {why}; {could}"
    return CompareGateResult(gate, status, detail, c.difference, c.ci_low, c.ci_high, c.one_sided_low, c.p_value,
                             p_holm, power.drop, power.how, margin, need, c.p_text, c.differ_text)


def _bound_text(c: PairedComparison, margin: float) -> str:
    if c.one_sided_low is None:
        return f"no one-sided 95% lower bound ({c.bound_how})"
    shown = shown_for_verdict(c.one_sided_low, lambda v: v > -margin, 3)
    return f"one-sided 95% lower bound {shown} {'>' if c.one_sided_low > -margin else '<='} {-margin:g}"


def _could(power: Detectable, need: int | None, margin: float, c: PairedComparison) -> str:
    text = (f"could detect a drop of {power.drop:.3f} at {POWER:.0%} power ({power.how})" if power.drop is not None
            else f"smallest detectable drop not known: {power.how}")
    if need is not None:
        units = "pairs" if c.unit == "pair" else f"{c.unit}s"
        text += f"; showing a drop under {margin:g} needs about {need:,} {units} at {POWER:.0%} power"
    return text


def _p(value: float) -> str:
    return f"{value:.4g}"
