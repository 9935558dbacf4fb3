"""A pytest plugin that times every cyclic garbage collection of the process it is loaded into.

    PYTHONPATH=$PWD:$PWD/bench GC_PROBE_OUT=/tmp/gc.txt python -m pytest tests_clinical/test_mednli.py \
        -p gc_probe --model-endpoint=URL ...

At exit it writes, per generation, how many collections ran and the seconds they took, and each full
(oldest-generation) collection as (seconds since the probe loaded, duration, objects collected). Timing
comes from `gc.callbacks` (https://docs.python.org/3/library/gc.html#gc.callbacks), so it counts only
the collector itself. Not loaded by anything in the package: a measuring tool for bench/README.md.
"""

from __future__ import annotations

import atexit
import gc
import os
import time
from typing import Any

_START = time.perf_counter()
_totals = {generation: [0, 0.0] for generation in range(3)}
_full: list[tuple[float, float, int]] = []
_began = [0.0]


def _on_collection(phase: str, info: dict[str, Any]) -> None:
    now = time.perf_counter()
    if phase == "start":
        _began[0] = now
        return
    took = now - _began[0]
    generation = info["generation"]
    _totals[generation][0] += 1
    _totals[generation][1] += took
    if generation == 2:
        _full.append((round(now - _START, 2), round(took, 3), info["collected"]))


def _write() -> None:
    lines = [f"gen{g}: {n} collections, {s:.3f} s" for g, (n, s) in _totals.items()]
    lines.append(f"total: {sum(s for _, s in _totals.values()):.3f} s")
    lines.append(f"full collections (s since start, duration s, collected): {_full}")
    path = os.environ.get("GC_PROBE_OUT")
    text = "\n".join(lines) + "\n"
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        print(text, end="")


gc.callbacks.append(_on_collection)
atexit.register(_write)
