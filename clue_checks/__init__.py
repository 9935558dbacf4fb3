"""clue-checks: the CLUE clinical benchmark as a pytest suite against a model endpoint."""

__version__ = "0.1.0"
