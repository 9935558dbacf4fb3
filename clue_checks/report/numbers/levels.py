"""CLUE's Level 1 / Level 2 averages from one table of headline metrics.

The paper does not say which metric of each task enters its Level averages, nor how
LongHealth's three sub-tasks combine (docs/clue-faithfulness.md#level-averages). Our choice, in one place:
the first metric CLUE's own result tables list for each task (ROUGE-L for the summaries,
accuracy for MedNLI and LongHealth), approximate-match F1 for MeDiSumCode (exact match is
near zero for almost every model and would flatten Level 2), and LongHealth as the mean of
its three sub-tasks. Change the table, not the code.

A user's task is never in CLUE's levels. A task file may name a level of its own (`[task] level = "in-house"`):
that level is the mean of the headline metrics of the tasks naming it, each task one component, with its
interval made as CLUE's levels get theirs, and is reported after them under its own name.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from clue_checks.report.numbers.stats import (BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, CONFIDENCE, JointBootstrap, joint_bootstrap,
                    percentile_interval)

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

# task -> its headline metric (the one its Level average uses), in report order
HEADLINE: Mapping[str, str] = {t: m for level in LEVELS.values() for _, parts in level for t, m in parts}


def headlines(records: Iterable[Any]) -> dict[str, str]:
    """CLUE's headline metrics, then each other task's (a user's task, never in a level): its first metric,
    which a task file makes the metric it names."""
    out = dict(HEADLINE)
    for r in records:
        if r.task not in out and r.metrics:
            out[r.task] = next(iter(r.metrics))
    return out


def level_weights(level: int) -> dict[tuple[str, str], float]:
    """Each (task, metric)'s weight in the level average: components count equally, parts share theirs."""
    components = LEVELS[level]
    return {key: 1 / (len(components) * len(parts)) for _, parts in components for key in parts}


@dataclass(frozen=True)
class LevelScore:
    level: int | str  # CLUE's 1 or 2, or the name of a level of the user's own
    value: float | None
    ci_low: float | None
    ci_high: float | None
    components: Mapping[str, float | None]
    not_computed: str | None = None
    incomplete: tuple[str, ...] = ()  # component tasks scored on part of their samples
    method: str = ""  # how the interval was made, or why there is none
    parts: tuple[tuple[str, str], ...] = ()  # an own level's (task, metric)s; CLUE's are in LEVELS

    @property
    def key(self) -> str:
        """Its key in the report's `levels`: "level1", "level2", or an own level's name."""
        return level_key(self.level)

    @property
    def label(self) -> str:
        return f"Level {self.level}" if isinstance(self.level, int) else f"Level {self.level} (own, not CLUE's)"

    def as_dict(self) -> dict[str, Any]:
        if isinstance(self.level, int):
            definition = {name: [f"{t}.{m}" for t, m in parts] for name, parts in LEVELS[self.level]}
        else:
            definition = {t: [f"{t}.{m}"] for t, m in self.parts}
        return {"value": self.value, "ci95": [self.ci_low, self.ci_high], "method": self.method,
                "components": dict(self.components), "not_computed": self.not_computed,
                "incomplete": list(self.incomplete), "definition": definition}


_CLUE_KEY = re.compile(r"^level([0-9]+)$")


def level_key(level: int | str) -> str:
    return f"level{level}" if isinstance(level, int) else level


def level_of_key(key: str) -> int | str:
    """The level a report key names: CLUE's number for "levelN", else an own level's name."""
    match = _CLUE_KEY.match(key)
    return int(match.group(1)) if match else key


def own_levels(tasks: Iterable[Any]) -> dict[str, tuple[tuple[str, str], ...]]:
    """Own level name -> its (task, headline metric)s, from task specs (`level` a name; headline: the first
    metric, the one a task file names), by level name."""
    out: dict[str, list[tuple[str, str]]] = {}
    for spec in tasks:
        metrics = tuple(spec.metric_names) or tuple(spec.batched_metrics)
        if isinstance(spec.level, str) and metrics:
            out.setdefault(spec.level, []).append((spec.name, metrics[0]))
    return {name: tuple(parts) for name, parts in sorted(out.items())}


class LevelInputs(NamedTuple):
    values: dict[tuple[str, str], list[float]]
    clusters: dict[tuple[str, str], list[str | None]]


def level_inputs(records: Iterable[Any]) -> LevelInputs:
    """Per (task, metric): the values each task's table row averaged and their cluster ids.

    `records` are SampleRecords, one per sample (errored samples and missing values are left out,
    as the task table leaves them out), taken in each task's scoring order.
    """
    values: dict[tuple[str, str], list[float]] = {}
    clusters: dict[tuple[str, str], list[str | None]] = {}
    for r in sorted(records, key=lambda r: (r.task, r.index)):
        if r.outcome == "error":
            continue
        for metric, value in r.metrics.items():
            if value is not None and math.isfinite(value):
                values.setdefault((r.task, metric), []).append(float(value))
                clusters.setdefault((r.task, metric), []).append(r.cluster)
    return LevelInputs(values, clusters)


def level_scores(values: Mapping[tuple[str, str], Sequence[float]], *,
                 clusters: Mapping[tuple[str, str], Sequence[str | None]] | None = None,
                 seed: int = BOOTSTRAP_SEED, resamples: int = BOOTSTRAP_RESAMPLES,
                 incomplete: Sequence[str] = (),
                 own: Mapping[str, Sequence[tuple[str, str]]] | None = None) -> list[LevelScore]:
    """`values[(task, metric)]` are the per-sample values the task table averaged; `clusters[(task,
    metric)]`, where given, their cluster ids in the same order (see :func:`level_inputs`). `own`: the
    levels of the user's own (:func:`own_levels`), after CLUE's.

    The interval recomputes the whole average on each resample (a stratified cluster bootstrap,
    :func:`stats.joint_bootstrap`): each task keeps its size, a cluster is drawn whole, and a cluster
    id shared by several tasks (a LongHealth question in tasks 1-3) is drawn once for all of them.
    Each level draws from its own generator (seeded by `seed` and the level), so one level's interval
    does not depend on whether the other level could be computed. NaN or infinite values are left
    out, as the task table leaves them out (it reports them as not computed).
    """
    columns = {}
    for key, vs in values.items():
        ids = list(clusters[key]) if clusters is not None and key in clusters else [None] * len(vs)
        if len(ids) != len(vs):
            raise ValueError(f"{key[0]}.{key[1]}: {len(vs)} values but {len(ids)} cluster ids")
        kept = [(float(v), c) for v, c in zip(vs, ids) if v is not None and math.isfinite(v)]
        columns[key] = ([v for v, _ in kept], [c for _, c in kept])
    levels: list[tuple[int | str, Sequence[tuple[str, Sequence[tuple[str, str]]]]]] = list(LEVELS.items())
    levels += [(name, tuple((t, ((t, m),)) for t, m in parts)) for name, parts in (own or {}).items()]
    out = []
    for level, components in levels:
        parts = () if isinstance(level, int) else tuple(p for _, ps in components for p in ps)
        missing = [f"{t}.{m}" for _, ps in components for t, m in ps if not columns.get((t, m), ((),))[0]]
        if missing:
            out.append(LevelScore(level, None, None, None, {}, f"needs {', '.join(missing)} (not run or not computed)",
                                  parts=parts))
            continue
        weights = {key: 1 / (len(components) * len(ps)) for _, ps in components for key in ps}
        level_seed = level if isinstance(level, int) else int(hashlib.sha256(level.encode()).hexdigest()[:8], 16)
        boot = joint_bootstrap({key: columns[key] for key in weights}, seed=[seed, level_seed], resamples=resamples)
        w = np.array([weights[key] for key in boot.keys])
        means = dict(zip(boot.keys, boot.means))
        point = {name: float(np.mean([means[key] for key in ps])) for name, ps in components}
        value = float(np.mean(list(point.values())))
        low, high, method = _level_interval(boot.replicates @ w, boot, resamples, seed)
        partial = tuple(t for _, ps in components for t, _ in ps if t in incomplete)
        out.append(LevelScore(level, value, low, high, point, None, partial, method, parts))
    return out


def _level_interval(replicates: np.ndarray, boot: JointBootstrap, resamples: int,
                    seed: int) -> tuple[float | None, float | None, str]:
    if np.ptp(replicates) == 0:
        return None, None, "no interval: every component's samples have one value each, so resampling cannot vary"
    low, high = percentile_interval(replicates)
    if boot.n_units < boot.n_samples:
        how = (f"stratified cluster bootstrap over {boot.n_units} clusters of {boot.n_samples} samples "
               "(a cluster shared by tasks is drawn once for all of them)")
    else:
        how = f"stratified bootstrap over {boot.n_samples} samples (each task keeps its size)"
    return low, high, f"{how}, percentile {CONFIDENCE:.0%}, {resamples} resamples, seed {seed}"
