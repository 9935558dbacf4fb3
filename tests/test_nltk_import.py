"""rouge-score is imported without nltk loading scipy.stats, and nltk ends up as a plain import leaves it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from clue_checks.metrics.nltk_import import _NoScipyStatsHere, refusing_scipy_stats

# Every nltk module's names, each with where its object comes from (or its type), after importing rouge-score.
NAMES_AFTER_IMPORT = """
import inspect, json, sys
if sys.argv[1] == "ours":
    from clue_checks.metrics.nltk_import import import_rouge_scorer
    import_rouge_scorer()
else:
    from rouge_score import rouge_scorer
scipy_stats_loaded = "scipy.stats" in sys.modules
names = {}
for module_name, module in sorted(sys.modules.items()):
    if module_name.split(".")[0] != "nltk" or module is None:
        continue
    names[module_name] = {
        name: ("module " + value.__name__ if inspect.ismodule(value)
               else str(getattr(value, "__module__", None)) if callable(value) else type(value).__name__)
        for name, value in vars(module).items() if not name.startswith("__")}
from nltk.metrics.association import BigramAssocMeasures
fisher = BigramAssocMeasures.fisher(8, (15, 10), 100)  # calls fisher_exact through the module's global
print(json.dumps({"scipy_stats_loaded": scipy_stats_loaded, "names": names, "fisher": fisher}))
"""


def names_after(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", NAMES_AFTER_IMPORT, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_nltk_is_left_as_a_plain_import_leaves_it_but_for_a_deferred_fisher_exact():
    plain, ours = names_after("plain"), names_after("ours")
    assert plain["scipy_stats_loaded"] and not ours["scipy_stats_loaded"]
    assert set(plain["names"]) == set(ours["names"])  # the same nltk modules were imported
    differences = {(module, name, plain["names"][module].get(name), ours["names"][module].get(name))
                   for module in plain["names"]
                   for name in set(plain["names"][module]) | set(ours["names"][module])
                   if plain["names"][module].get(name) != ours["names"][module].get(name)}
    assert differences == {("nltk.metrics.association", "fisher_exact", "scipy.stats._stats_py",
                            "clue_checks.metrics.nltk_import")}
    assert ours["fisher"] == plain["fisher"]  # and it answers as scipy's, importing it when first called


def test_an_nltk_or_scipy_stats_already_imported_is_used_as_it_is():
    code = ("import sys, scipy.stats\nfrom clue_checks.metrics.nltk_import import import_rouge_scorer\n"
            "import_rouge_scorer()\nprint(sys.modules['nltk.metrics.association'].fisher_exact.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "scipy.stats._stats_py"


def test_only_the_importing_thread_is_refused_scipy_stats():
    finder = _NoScipyStatsHere()
    for name in ("scipy.stats", "scipy.stats._stats_py"):
        with pytest.raises(ModuleNotFoundError, match="deferred while nltk loads"):
            finder.find_spec(name)
    assert finder.find_spec("scipy") is None and finder.find_spec("scipy.statsmodels_like") is None
    seen = []
    other = threading.Thread(target=lambda: seen.append(finder.find_spec("scipy.stats")))
    other.start()
    other.join()
    assert seen == [None]  # another thread imports scipy.stats as usual


def test_the_finder_never_changes_a_list_another_import_may_be_walking():
    # An import walks the sys.meta_path list it found when it began; changing that list in place (an
    # insert at the head, then a remove) shifted it under another thread's walk, which could skip a finder.
    walked = sys.meta_path
    before = list(walked)
    added_meanwhile = _NoScipyStatsHere()
    with refusing_scipy_stats() as finder:
        assert sys.meta_path[0] is finder and sys.meta_path[1:] == before
        assert walked == before  # the list a walk under way holds is left as it was
        with pytest.raises(ModuleNotFoundError, match="deferred while nltk loads"):
            __import__("scipy.stats._deliberately_absent")
        sys.meta_path.append(added_meanwhile)  # another party's finder, added during the block
    assert walked == before
    assert sys.meta_path == [*before, added_meanwhile]  # ours gone, theirs kept
    sys.meta_path = before
