"""Import rouge-score, and with it nltk, without nltk loading scipy.stats for a function no one calls.

rouge-score imports nltk as a whole (for sentence splitting and stemming, neither of which CLUE's ROUGE
uses), and nltk's `metrics.association` module imports `scipy.stats.fisher_exact` as it loads. That
import alone is 0.67 s of CPU and 30,000 objects for the collector to walk, in every run that scores
ROUGE (on the bench's 997-sample MeQSum run, its largest single cost after pytest's own).

nltk allows for scipy being absent: each such import sits in a `try` with a stand-in. So, while
rouge-score is imported and only in this thread, importing scipy.stats fails as if scipy were not
installed; then nltk's `fisher_exact` stand-in (which would raise NotImplementedError) is replaced by
one that imports scipy's on its first call and hands over to it. nltk's other two scipy.stats imports
(`metrics.scores`' `betai`, `translate.gale_church`'s `norm`) fall back to their stand-ins with any
current scipy anyway: scipy no longer has `betai`, and the module `norm` imported before scipy's does
not exist. `tests/test_nltk_import.py` checks that every nltk module ends up with the same names bound
to the same kinds of objects as after a plain import.

The finder is put in place by giving `sys.meta_path` a new list, never by changing the list in place:
the import system walks the list it found when an import began, so another thread's import that is
under way keeps walking an unchanged list (inserting at the head and removing again shifted that list
under it, and such an import could skip a finder and fail with "No module named ..." for a module that
exists).

When nltk or scipy.stats is already imported, rouge-score is imported as usual.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.abc import MetaPathFinder
from typing import Any

BLOCKED = "scipy.stats"


class _NoScipyStatsHere(MetaPathFinder):
    """Fails the import of scipy.stats (and its submodules) in one thread; defers to the others elsewhere."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if threading.get_ident() == self.thread and (name == BLOCKED or name.startswith(BLOCKED + ".")):
            raise ModuleNotFoundError(f"No module named {name!r} (deferred while nltk loads)", name=name)
        return None


def import_rouge_scorer() -> Any:
    """The `rouge_score.rouge_scorer` module."""
    if "nltk" in sys.modules or BLOCKED in sys.modules:
        from rouge_score import rouge_scorer

        return rouge_scorer
    with refusing_scipy_stats():
        from rouge_score import rouge_scorer
    association = sys.modules.get("nltk.metrics.association")
    if association is not None:
        association.fisher_exact = fisher_exact
    return rouge_scorer


@contextmanager
def refusing_scipy_stats() -> Iterator[_NoScipyStatsHere]:
    """This thread's imports of scipy.stats fail inside the block; `sys.meta_path` is replaced, not changed."""
    finder = _NoScipyStatsHere()
    sys.meta_path = [finder, *sys.meta_path]
    try:
        yield finder
    finally:  # finders others added meanwhile (to the new list) stay
        sys.meta_path = [other for other in sys.meta_path if other is not finder]


def fisher_exact(*args: Any, **kwargs: Any) -> Any:
    """scipy.stats.fisher_exact, imported on the first call (what nltk's `association` module binds)."""
    from scipy.stats import fisher_exact as scipys

    return scipys(*args, **kwargs)
