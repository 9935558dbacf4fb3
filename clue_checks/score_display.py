"""How a score is printed next to the bar it is judged against."""

from __future__ import annotations

from collections.abc import Callable


def shown_for_verdict(value: float, holds: Callable[[float], bool] | None, digits: int) -> str:
    """`value` to `digits` decimals, or more when rounding would land on the other side of the bar
    `holds` tests (0.29996 fails ">= 0.3" and must not read 0.3000)."""
    for places in range(digits, 18):
        text = f"{value:.{places}f}"
        if holds is None or holds(float(text)) == holds(value):
            return text
    return repr(value)
