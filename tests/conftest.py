"""Framework tests. Hypothesis without deadlines: first calls load libraries, and CI machines vary."""

from hypothesis import settings

settings.register_profile("clue-checks", deadline=None, max_examples=100)
settings.load_profile("clue-checks")


def pytest_configure(config):
    # Tests that build and install the package or run whole suites in subprocesses: kept in the
    # default run; `-m "not slow"` leaves them out while iterating.
    config.addinivalue_line("markers", "slow: builds/installs the package or runs a suite in a subprocess")
