"""Framework tests. Hypothesis without deadlines: first calls load libraries, and CI machines vary."""

# Loaded once, up front: pytester restores sys.modules after each of its tests, and a C extension (numpy's,
# scipy's, the tokenizers') cannot be imported a second time in one process. The plugin imports them only
# in a session that runs CLUE samples, so a suite run in this process that imported them first would break
# every later test that needs them. These are what a run of the whole suite imports.
import importlib

import numpy  # noqa: F401
import pytest
from hypothesis import settings

from process_starts import pytest_runtest_makereport, pytest_runtest_setup  # noqa: F401  (marks process starts)

for _module in ("numpy.fft", "numpy.random", "scipy.stats", "scipy.optimize", "tokenizers", "python_calamine", "regex",
                "yaml", "markupsafe", "charset_normalizer", "PIL.Image"):
    try:
        importlib.import_module(_module)
    except ImportError:  # an optional extra not installed: nothing of it to import twice either
        pass


def _import_the_package() -> None:
    """Every clue_checks module, before any test: a module that a suite run in this process imported first would
    be dropped with pytester's sys.modules snapshot and imported again later, a second copy of its classes and
    registries beside the one the tests already hold."""
    import pkgutil

    import clue_checks

    for info in pkgutil.walk_packages(clue_checks.__path__, "clue_checks."):
        if info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except ImportError:  # a module of an optional extra that is not installed
            pass


_import_the_package()


def _load_a_tokenizer() -> None:
    """transformers, which a run imports on first use to load the model's tokenizer and apply its chat
    template: loaded here once, with the modules that use imports lazily, or every in-process suite run would
    import it again after pytester dropped it (1-2 s each)."""
    try:
        from clue_checks.rendering import load_tokenizer
        from clue_checks.server.baseline import TOKENIZER_DIR
    except ImportError:
        return
    tokenizer = load_tokenizer(str(TOKENIZER_DIR))
    tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)


_load_a_tokenizer()

settings.register_profile("clue-checks", deadline=None, max_examples=100)
settings.load_profile("clue-checks")


def pytest_configure(config):
    # Tests whose point is a new process (everything else runs in this one): kept in the default run;
    # `-m "not slow"` leaves them out while iterating.
    config.addinivalue_line("markers", "slow: starts a process: builds/installs the package, runs a suite under "
                                       "xdist, in a terminal or as a process to signal")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules holding `slow` tests first, each module's tests in their own order: xdist hands the
    collection out in order and keeps its end for whichever worker is free, so under `-n 2` the workers end
    together on short in-process tests instead of one waiting while the other runs a journey."""
    slow_modules = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow_modules)  # stable: the order within each group is kept


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny BERT for BERTScore (tests/tiny_models.py), built once per process.

    Session-scoped, so it is set up before a test's `pytester` takes its snapshot of sys.modules: pytester
    removes the modules imported during its test, and torch's (torch.distributed registers its operators
    once per process) cannot be imported a second time; a later test importing transformers' models then fails.
    """
    pytest.importorskip("bert_score", reason="bert-score/torch not installed: pip install clue-checks[bertscore]")
    from tiny_models import build_tiny_bert

    return str(build_tiny_bert(tmp_path_factory.mktemp("tiny-bert")))
