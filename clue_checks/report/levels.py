"""CLUE's Level 1 / Level 2 averages from one table of headline metrics.

The paper does not say which metric of each task enters its Level averages, nor how
LongHealth's three sub-tasks combine (docs/clue-faithfulness.md#level-averages). Our choice, in one place:
the first metric CLUE's own result tables list for each task (ROUGE-L for the summaries,
accuracy for MedNLI and LongHealth), approximate-match F1 for MeDiSumCode (exact match is
near zero for almost every model and would flatten Level 2), and LongHealth as the mean of
its three sub-tasks. Change the table, not the code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, CONFIDENCE

# level -> [(component, [(task, metric), ...])]; a component with several tasks is their mean.
LEVELS: Mapping[int, Sequence[tuple[str, Sequence[tuple[str, str]]]]] = {
    1: (
        ("MedNLI", (("mednli", "accuracy"),)),
        ("MeQSum", (("meqsum", "rougeL"),)),
        ("Problem Summary", (("problemsummary", "rougeL"),)),
    ),
    2: (
        ("LongHealth", (("longhealth-t1", "accuracy"), ("longhealth-t2", "accuracy"), ("longhealth-t3", "accuracy"))),
        ("MeDiSumQA", (("medisumqa", "rougeL"),)),
        ("MeDiSumCode", (("medisumcode", "icd_ap_f1"),)),
    ),
}


@dataclass(frozen=True)
class LevelScore:
    level: int
    value: float | None
    ci_low: float | None
    ci_high: float | None
    components: Mapping[str, float | None]
    not_computed: str | None = None
    incomplete: tuple[str, ...] = ()  # component tasks scored on part of their samples


    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci95": [self.ci_low, self.ci_high], "components": dict(self.components),
                "not_computed": self.not_computed, "incomplete": list(self.incomplete),
                "definition": {name: [f"{t}.{m}" for t, m in parts] for name, parts in LEVELS[self.level]}}


def level_scores(values: Mapping[tuple[str, str], Sequence[float]], *, seed: int = BOOTSTRAP_SEED,
                 resamples: int = BOOTSTRAP_RESAMPLES, incomplete: Sequence[str] = ()) -> list[LevelScore]:
    """`values[(task, metric)]` are the per-sample values the task table averaged.

    The interval resamples each task's samples independently and recomputes the whole
    average, so it carries every task's sampling uncertainty. Each level draws from its own
    generator (seeded by `seed` and the level), so one level's interval does not depend on
    whether the other level could be computed. NaN or infinite values are left out, as the
    task table leaves them out (it reports them as not computed).
    """
    values = {key: [float(v) for v in vs if v is not None and math.isfinite(v)] for key, vs in values.items()}
    out = []
    for level, components in LEVELS.items():
        rng = np.random.default_rng([seed, level])
        missing = [f"{t}.{m}" for _, parts in components for t, m in parts if not values.get((t, m))]
        if missing:
            out.append(LevelScore(level, None, None, None, {}, f"needs {', '.join(missing)} (not run or not computed)"))
            continue
        point: dict[str, float] = {}
        boot = np.zeros(resamples)
        for name, parts in components:
            part_means, part_boot = [], np.zeros(resamples)
            for key in parts:
                data = np.asarray(values[key], dtype=float)
                part_means.append(float(data.mean()))
                picks = rng.integers(0, len(data), size=(resamples, len(data)))
                part_boot += data[picks].mean(axis=1)
            point[name] = float(np.mean(part_means))
            boot += part_boot / len(parts)
        boot /= len(components)
        alpha = (1 - CONFIDENCE) / 2
        low, high = np.quantile(boot, [alpha, 1 - alpha])
        partial = tuple(t for _, parts in components for t, _ in parts if t in incomplete)
        out.append(LevelScore(level, float(np.mean(list(point.values()))), float(low), float(high), point, None,
                              partial))
    return out
