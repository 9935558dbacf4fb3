"""The verdict of the [compare] gates: a run against its baseline, from the paired comparisons.

* ``noninferior m``: passes when the one-sided 95% lower bound of new − baseline is above −m (the
  lower end of the two-sided 90% interval: Tango's for 0/1 scores, the paired bootstrap's otherwise).
* ``no regression``: fails on a significant drop: a two-sided p-value, Holm-adjusted across every
  "no regression" gate that could be tested in this run, at most 0.05, with the difference below 0.
  A significant improvement passes.

Neither passes unless both runs scored the whole task: a comparison with samples missing on either
side, or on part of the task, is "incomplete" (it says which way it would go); a gate whose task was
not compared is "not run". Every result states the smallest drop it could have detected at 80%
power at the run's n and observed discordance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..numbers import shown_for_verdict
from .comparison import PairedComparison
from .power import ALPHA, POWER, detectable_drop
from .thresholds import CompareGate


@dataclass(frozen=True)
class CompareGateResult:
    gate: CompareGate
    status: str  # "pass", "fail", "incomplete" or "not run"
    detail: str
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    one_sided_low: float | None = None
    p_value: float | None = None
    p_holm: float | None = None  # no regression: Holm-adjusted across the family
    detectable_drop: float | None = None  # at 80% power; None: see detectable_how
    detectable_how: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"gate": self.gate.name, "status": self.status, "detail": self.detail, "difference": self.difference,
                "ci95": [self.ci_low, self.ci_high], "one_sided_low95": self.one_sided_low,
                "p_value": self.p_value, "p_holm": self.p_holm,
                "detectable_drop": {"value": self.detectable_drop, "power": POWER, "how": self.detectable_how}}


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (statsmodels' ``multipletests(method="holm")``)."""
    if not p_values:
        return []
    from statsmodels.stats.multitest import multipletests

    return [float(p) for p in multipletests(p_values, alpha=ALPHA, method="holm")[1]]


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
            results.append(CompareGateResult(gate, "not run", no_baseline))
        elif c is None:
            results.append(CompareGateResult(gate, "not run", f"{gate.task}.{gate.metric} was not compared: the task "
                                                              "did not run in both runs"))
        elif c.not_computed is not None:
            status = "incomplete" if c.missing_in_new or c.missing_in_baseline or gate.task in partial else "fail"
            results.append(CompareGateResult(gate, status, f"not compared: {c.not_computed}"))
        else:
            results.append(_judge(gate, c, adjusted.get(gate), len(family), partial.get(gate.task), alpha))
    return results


def _tested(c: PairedComparison | None) -> bool:
    return c is not None and c.p_value is not None


def _judge(gate: CompareGate, c: PairedComparison, p_holm: float | None, family: int, partial: str | None,
           alpha: float) -> CompareGateResult:
    sided = 1 if gate.rule == "noninferior" else 2
    power = detectable_drop(c, sided=sided, alpha=alpha)
    seen = (f"difference {c.difference:+.4f} [95% {c.ci_low:+.4f}, {c.ci_high:+.4f}] over {c.n} pairs"
            + (f" ({c.broke} broke, {c.fixed} fixed)" if c.broke is not None else ""))
    if gate.rule == "noninferior":
        assert gate.margin is not None and c.one_sided_low is not None
        bar = -gate.margin
        ok = c.one_sided_low > bar
        bound = shown_for_verdict(c.one_sided_low, lambda v: v > bar, 4)
        why = f"one-sided 95% lower bound {bound} {'>' if ok else '<='} {bar:g}"
    else:
        assert c.p_value is not None and p_holm is not None
        drop = c.difference is not None and c.difference < 0 and p_holm <= alpha
        ok = not drop
        held = "" if family == 1 else f", Holm-adjusted {p_holm:.4g} across {family} gates"
        why = (f"p = {c.p_value:.4g}{held}: " + ("a significant drop" if drop else
               "a significant improvement" if p_holm <= alpha else "no significant difference"))
    could = (f"could detect a drop of {power.drop:.4f} at {POWER:.0%} power ({power.how})" if power.drop is not None
             else f"smallest detectable drop not known: {power.how}")
    problems = []
    if c.missing_in_new:
        problems.append(f"{len(c.missing_in_new)} baseline sample(s) not scored in the new run")
    if c.missing_in_baseline:
        problems.append(f"{len(c.missing_in_baseline)} sample(s) not scored in the baseline")
    if partial:
        problems.append(partial)
    if problems:
        status = "incomplete"
        detail = (f"{seen}; {why}: would {'pass' if ok else 'fail'}, but {', '.join(problems)}: a comparison gate "
                  f"needs the whole task in both runs; {could}")
    else:
        status = "pass" if ok else "fail"
        detail = f"{seen}; {why}; {could}"
    return CompareGateResult(gate, status, detail, c.difference, c.ci_low, c.ci_high, c.one_sided_low, c.p_value,
                             p_holm, power.drop, power.how)
