"""The thresholds file: per-sample floors (the sample assertions) and task gates (the verdict).

```toml
[sample]                        # a sample fails below its floor
"meqsum.rougeL" = 0.10

[gate]                          # the release verdict on task scores
"mednli.accuracy" = ">= 0.40"
"meqsum.rougeL" = ">= 0.20"
```
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_GATE = re.compile(r"^\s*(>=|<=|>|<)\s*([-+]?\d+(?:\.\d+)?)\s*$")
_KEY = re.compile(r"^[a-z0-9_-]+\.[A-Za-z0-9_]+$")


class ThresholdsError(Exception):
    pass


@dataclass(frozen=True)
class Gate:
    task: str
    metric: str
    op: str
    bound: float

    @property
    def name(self) -> str:
        short = f"{self.bound:g}"  # 0.3, not 0.30000; but never a rounded bound the gate does not use
        return f"{self.task}.{self.metric} {self.op} {short if float(short) == self.bound else repr(self.bound)}"

    def holds(self, value: float) -> bool:
        return {">=": value >= self.bound, ">": value > self.bound,
                "<=": value <= self.bound, "<": value < self.bound}[self.op]


@dataclass(frozen=True)
class Thresholds:
    source: str
    floors: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # task -> metric -> floor
    gates: tuple[Gate, ...] = ()

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
    unknown = set(data) - {"sample", "gate"}
    if unknown:
        raise ThresholdsError(f"{source}: unknown section(s) {', '.join(sorted(unknown))}; use [sample] and [gate]")
    for section in ("sample", "gate"):
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
                                  "(a string: one of >=, >, <=, < and a number from 0 to 1)")
        bound = float(match.group(2))
        if not 0 <= bound <= 1:
            # "<= 5" could never fail and ">= 30" never pass: a percentage or a typo, refused
            raise ThresholdsError(f"{source}: [gate] {key} = {value!r}: the bound must be between 0 and 1 "
                                  "(scores are on the 0–1 scale)")
        gates.append(Gate(task, metric, match.group(1), bound))
    return Thresholds(source, MappingProxyType({t: MappingProxyType(m) for t, m in floors.items()}), tuple(gates))


def load(path: Path | None) -> Thresholds:
    if path is None:
        from importlib import resources

        text = resources.files("clue_checks").joinpath("default_thresholds.toml").read_text(encoding="utf-8")
        return parse(text, "clue_checks/default_thresholds.toml (built-in)")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ThresholdsError(f"{path}: cannot read ({exc.strerror})") from None
    return parse(text, str(path))
