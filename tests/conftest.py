"""Framework tests. Hypothesis without deadlines: first calls load libraries, and CI machines vary."""

# Loaded once, up front: pytester restores sys.modules after each of its tests, and numpy (a C extension)
# cannot be imported a second time in one process. The plugin no longer imports it in a session that
# runs no CLUE sample, so a test module that first imports it under pytester would break later ones.
import numpy  # noqa: F401
from hypothesis import settings

settings.register_profile("clue-checks", deadline=None, max_examples=100)
settings.load_profile("clue-checks")


def pytest_configure(config):
    # Tests that build and install the package or run whole suites in subprocesses: kept in the
    # default run; `-m "not slow"` leaves them out while iterating.
    config.addinivalue_line("markers", "slow: builds/installs the package or runs a suite in a subprocess")
