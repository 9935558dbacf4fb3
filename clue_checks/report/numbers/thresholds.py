"""The thresholds file: per-sample floors (the sample assertions), task gates and comparison gates.

```toml
[sample]                        # a sample fails below its floor
"meqsum.rougeL" = 0.10

[gate]                          # the release verdict on task scores
"mednli.accuracy" = ">= 0.40"   # the point estimate
"meqsum.rougeL" = "lower95 >= 0.20"    # the low end of its 95% interval (upper95 <= x: the high end)

[compare]                       # the release verdict against a baseline run (paired on sample ids)
"mednli.accuracy" = "noninferior 0.02"  # one-sided 95% lower bound of new - baseline above -0.02
"meqsum.rougeL" = "no regression"       # fails on a significant drop (two-sided 0.05, Holm across these
                                        # gates); passes only when a drop of 0.02 is ruled out (the
                                        # noninferior bound above -0.02); otherwise inconclusive
"problemsummary.rougeL" = "no regression 0.05"  # the same with the drop it guards against stated
```
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from clue_checks.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_GATE = re.compile(r"^\s*(?:(lower95|upper95)\s+)?(>=|<=|>|<)\s*([-+]?\d+(?:\.\d+)?)\s*$")
_NONINFERIOR = re.compile(r"^\s*noninferior\s+([-+]?\d+(?:\.\d+)?)\s*$")
_NO_REGRESSION = re.compile(r"^\s*no\s+regression(?:\s+([-+]?\d+(?:\.\d+)?))?\s*$")
NO_REGRESSION_MARGIN = 0.02  # the drop a bare "no regression" guards against: two points on the 0-1 scale
_KEY = re.compile(r"^[a-z0-9_-]+\.[A-Za-z0-9_]+$")


class ThresholdsError(ConfigError):
    pass


def _number(value: float) -> str:
    short = f"{value:g}"  # 0.3, not 0.30000; but never a rounded number the gate does not use
    return short if float(short) == value else repr(value)


@dataclass(frozen=True)
class Gate:
    task: str
    metric: str
    op: str
    bound: float
    # what the bound applies to: "value" (the point estimate), "lower95" / "upper95" (the ends of its
    # 95% interval: "lower95 >= 0.3" passes only when the interval lies above 0.3)
    statistic: str = "value"

    @property
    def name(self) -> str:
        on = "" if self.statistic == "value" else f"{self.statistic} "
        return f"{self.task}.{self.metric} {on}{self.op} {_number(self.bound)}"

    def holds(self, value: float) -> bool:
        return {">=": value >= self.bound, ">": value > self.bound,
                "<=": value <= self.bound, "<": value < self.bound}[self.op]

    def observed(self, value: float | None, low: float | None, high: float | None) -> float | None:
        """The number this gate compares with its bound: the value or an end of its 95% interval
        (None when that is not there: a gate on a missing interval cannot pass)."""
        return {"value": value, "lower95": low, "upper95": high}[self.statistic]


@dataclass(frozen=True)
class CompareGate:
    """A gate on the paired difference new − baseline of a task's metric."""

    task: str
    metric: str
    rule: str  # "noninferior" or "no regression"
    margin: float | None = None  # the drop still accepted; None for a bare "no regression"

    @property
    def tolerance(self) -> float:
        """The drop the gate guards against: its margin, or NO_REGRESSION_MARGIN for a bare "no regression"."""
        return self.margin if self.margin is not None else NO_REGRESSION_MARGIN

    @property
    def name(self) -> str:
        rule = self.rule if self.margin is None else f"{self.rule} {_number(self.margin)}"
        return f"{self.task}.{self.metric} {rule}"


@dataclass(frozen=True)
class Thresholds:
    source: str
    floors: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # task -> metric -> floor
    gates: tuple[Gate, ...] = ()
    compare: tuple[CompareGate, ...] = ()

    def floors_for(self, task: str) -> Mapping[str, float]:
        return self.floors.get(task, MappingProxyType({}))


def _split(path: str, key: str, value: object = None) -> tuple[str, str]:
    if not _KEY.match(key):
        hint = (f"; quote the whole key, e.g. \"{key}.{next(iter(value))}\" (unquoted, TOML reads the dot as a table)"
                if isinstance(value, dict) and value else "")
        raise ThresholdsError(f"{path}: key {key!r} must look like 'task.metric' (e.g. \"meqsum.rougeL\"){hint}")
    task, metric = key.split(".", 1)
    return task, metric


def parse(text: str, source: str) -> Thresholds:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThresholdsError(f"{source}: not valid TOML ({exc})") from None
    unknown = set(data) - {"sample", "gate", "compare"}
    if unknown:
        raise ThresholdsError(f"{source}: unknown section(s) {', '.join(sorted(unknown))}; "
                              "use [sample], [gate] and [compare]")
    for section in ("sample", "gate", "compare"):
        if not isinstance(data.get(section, {}), dict):
            raise ThresholdsError(f"{source}: {section} must be a table ([{section}]), got {data[section]!r}")
    floors: dict[str, dict[str, float]] = {}
    for key, value in data.get("sample", {}).items():
        task, metric = _split(source, key, value)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ThresholdsError(f"{source}: [sample] {key} must be a number, got {value!r}")
        if not (math.isfinite(value) and 0 <= value <= 1):
            # nan or a negative floor can never fail a sample; above 1 every sample fails
            raise ThresholdsError(f"{source}: [sample] {key} = {value!r} must be between 0 and 1 (scores are on the 0–1 scale)")
        floors.setdefault(task, {})[metric] = float(value)
    gates = []
    for key, value in data.get("gate", {}).items():
        task, metric = _split(source, key, value)
        match = _GATE.match(value) if isinstance(value, str) else None
        if not match:
            raise ThresholdsError(f"{source}: [gate] {key} = {value!r} must look like \">= 0.2\" "
                                  "(a string: one of >=, >, <=, < and a number from 0 to 1, optionally after "
                                  "lower95 or upper95)")
        statistic, op, bound = match.group(1) or "value", match.group(2), float(match.group(3))
        if not 0 <= bound <= 1:
            # "<= 5" could never fail and ">= 30" never pass: a percentage or a typo, refused
            raise ThresholdsError(f"{source}: [gate] {key} = {value!r}: the bound must be between 0 and 1 "
                                  "(scores are on the 0–1 scale)")
        if (statistic, op[0]) in (("lower95", "<"), ("upper95", ">")):
            # uncertainty would make these easier to pass, the opposite of what naming a bound is for
            fix = "lower95 >= x (the interval lies above x)" if statistic == "lower95" else \
                "upper95 <= x (the interval lies below x)"
            raise ThresholdsError(f"{source}: [gate] {key} = {value!r}: {statistic} with {op} passes more easily the "
                                  f"less certain the score is; use {fix}")
        gates.append(Gate(task, metric, op, bound, statistic))
    compare = [_compare_gate(source, key, value) for key, value in data.get("compare", {}).items()]
    return Thresholds(source, MappingProxyType({t: MappingProxyType(m) for t, m in floors.items()}), tuple(gates),
                      tuple(compare))


def _compare_gate(source: str, key: str, value: object) -> CompareGate:
    task, metric = _split(source, key, value)
    text = value if isinstance(value, str) else ""
    regression = _NO_REGRESSION.match(text)
    if regression and regression.group(1) is None:
        return CompareGate(task, metric, "no regression")
    match = regression or _NONINFERIOR.match(text)
    if not match:
        raise ThresholdsError(f"{source}: [compare] {key} = {value!r} must be \"noninferior 0.02\" (a drop of at most "
                              "0.02 accepted), \"no regression\" or \"no regression 0.02\" (the drop it guards "
                              f"against; {NO_REGRESSION_MARGIN:g} when not given)")
    margin = float(match.group(1))
    if not 0 < margin < 1:
        raise ThresholdsError(f"{source}: [compare] {key} = {value!r}: the margin must be above 0 and below 1 "
                              "(a drop on the 0–1 scale, e.g. 0.02 for two points)")
    return CompareGate(task, metric, "no regression" if regression else "noninferior", margin)


def load(path: Path | None) -> Thresholds:
    if path is None:
        text = resources.files("clue_checks").joinpath("default_thresholds.toml").read_text(encoding="utf-8")
        return parse(text, "clue_checks/default_thresholds.toml (built-in)")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ThresholdsError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        data = path.read_bytes()
        line = data.count(b"\n", 0, exc.start) + 1
        raise ThresholdsError(f"{path}, line {line}: not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                              "save the file as UTF-8") from None
    return parse(text, str(path))
