"""The Level averages of a run against its baseline: one paired sign-flip test per CLUE Level over the units of
all its tasks (:func:`compare_levels`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from clue_checks.report.compare.pairing import COMPARISON_RESAMPLES, COMPARISON_SEED, LONGHEALTH_UNIT, Pairs, pairs_of
from clue_checks.report.numbers.levels import LEVELS, level_weights
from clue_checks.report.numbers.signflip import format_p, signflip
from clue_checks.report.numbers.stats import CONFIDENCE


@dataclass(frozen=True)
class LevelComparison:
    level: int
    new: float | None
    baseline: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    one_sided_low: float | None
    p_value: float | None
    method: str
    seed: int
    resamples: int | None
    incomplete: tuple[str, ...] = ()  # component tasks with samples missing on either side
    not_computed: str | None = None
    p_floor: float | None = None
    differing: int | None = None
    units: int | None = None
    no_interval: str | None = None

    @property
    def p_text(self) -> str:
        return format_p(self.p_value, self.p_floor, self.resamples)

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "new": self.new, "baseline": self.baseline, "difference": self.difference,
                "ci95": [self.ci_low, self.ci_high], "one_sided_low95": self.one_sided_low,
                "p_value": self.p_value, "p_shown": self.p_text, "p_floor": self.p_floor, "method": self.method,
                "seed": self.seed, "resamples": self.resamples, "differing": self.differing, "units": self.units,
                "no_interval": self.no_interval, "incomplete": list(self.incomplete),
                "complete": not self.incomplete, "not_computed": self.not_computed}


def compare_levels(new_records: Iterable[Any], base_records: Iterable[Any], *, seed: int = COMPARISON_SEED,
                   resamples: int = COMPARISON_RESAMPLES, confidence: float = CONFIDENCE,
                   longhealth_unit: str = LONGHEALTH_UNIT) -> list[LevelComparison]:
    """Level 1 / Level 2 of the new run minus the baseline's, on the samples both scored.

    One sign-flip test per level on the units of all its tasks: a unit's contribution is its
    weighted share of the level average's difference, and a unit shared by several tasks (a
    LongHealth patient or question in tasks 1-3) is flipped once for all of them. Each level draws
    its sign patterns (when it must draw) from its own generator (seed, level).
    """
    new_records, base_records = list(new_records), list(base_records)
    out = []
    for level in LEVELS:
        weights = level_weights(level)
        pairs = {key: pairs_of(new_records, base_records, *key, longhealth_unit) for key in weights}
        empty = [f"{t}.{m}" for (t, m), p in pairs.items() if not p.ids]
        incomplete = tuple(t for (t, _), p in pairs.items() if p.missing_in_new or p.missing_in_baseline)
        if empty:
            out.append(LevelComparison(level, None, None, None, None, None, None, None, "not compared", seed, None,
                                       incomplete, f"needs {', '.join(empty)} in both runs"))
            continue
        a, c, n_samples = _level_units(pairs, weights)
        flip = signflip(a, c, seed=[seed, level], confidence=confidence, p_draws=resamples)
        new = float(sum(weights[k] * p.new.mean() for k, p in pairs.items()))
        base = float(sum(weights[k] * p.base.mean() for k, p in pairs.items()))
        how = (f"exact over all {2 ** flip.differing:,} sign patterns" if flip.exact
               else f"{flip.draws:,} random sign patterns, seed {seed}")
        method = (f"paired sign-flip randomisation test of the level average over {len(a)} units of {n_samples} "
                  f"pairs (a unit shared by tasks is flipped once for all), {flip.differing} differing ({how}); "
                  + ("interval inverts the test" if flip.no_interval is None else flip.no_interval))
        out.append(LevelComparison(level, new, base, flip.estimate, flip.low, flip.high, flip.one_sided_low,
                                   flip.p_value, method, seed, flip.draws, incomplete, None, flip.p_floor,
                                   flip.differing, len(a), flip.no_interval))
    return out


def _level_units(pairs: Mapping[tuple[str, str], Pairs],
                 weights: Mapping[tuple[str, str], float]) -> tuple[np.ndarray, np.ndarray, int]:
    """Per unit: its contribution to the level average's difference and its weight (Σ = 1)."""
    unit_of: dict[object, int] = {}
    contrib: list[float] = []
    weight: list[float] = []
    n_samples = 0
    for key, p in pairs.items():
        w = weights[key] / len(p.ids)
        for i, (d, cluster) in enumerate(zip(p.new - p.base, p.clusters)):
            u = unit_of.setdefault(cluster if cluster is not None else ("__own__", key, i), len(unit_of))
            if u == len(contrib):
                contrib.append(0.0)
                weight.append(0.0)
            contrib[u] += w * float(d)
            weight[u] += w
        n_samples += len(p.ids)
    return np.asarray(contrib), np.asarray(weight), n_samples
