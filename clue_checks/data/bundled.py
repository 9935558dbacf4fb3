"""The synthetic fixtures shipped inside the package: the data folder when no --clue-data is given.

They are package data (``clue_checks/fixtures/``), so a pip-installed clue-checks runs every task at
once, in the exact real file formats. Their scores mean nothing clinically.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def bundled_fixtures_dir() -> Path:
    """The folder of the bundled synthetic fixtures, laid out like CLUE's ``data/``."""
    root = resources.files("clue_checks").joinpath("fixtures")
    path = Path(str(root))
    if not path.is_dir():  # e.g. a zip import: the files are not a folder readers can open
        raise FileNotFoundError(f"clue-checks' bundled fixtures are not a folder on disk ({root}); "
                                "reinstall clue-checks with pip, or give --clue-data")
    return path


def is_bundled_fixtures(data_dir: Path) -> bool:
    """True when `data_dir` is the bundled synthetic fixtures (a run on them measures nothing clinical)."""
    try:
        return data_dir.resolve() == bundled_fixtures_dir().resolve()
    except FileNotFoundError:
        return False
