"""Each metric's declared kind: "binary" (0/1 per sample) or "continuous". A comparison's test follows the
declaration, never the values one run happened to produce (a ROUGE-L of exactly 0 or 1 everywhere is still
a continuous score).

An undeclared metric (a user's task file) is continuous: the sign-flip test it then gets is valid for
0/1 scores too, where it equals the exact McNemar test on unclustered samples.
"""

from __future__ import annotations

# metric name -> kind, for the metrics of CLUE's tasks that are 0/1 per sample
BINARY_METRICS = frozenset({"accuracy", "accuracy_lenient", "parsed"})


def kind_of(task: str, metric: str) -> str:
    """"binary" or "continuous" for `task`.`metric`."""
    return "binary" if metric in BINARY_METRICS else "continuous"
