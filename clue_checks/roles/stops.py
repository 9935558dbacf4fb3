"""How a run that cannot be carried out stops: the exit code and the data folder's one line (the sample
sessions' and the controllers' alike; kept apart so the xdist controller imports no sample side)."""

from __future__ import annotations

import pytest

EXIT_UNAVAILABLE = pytest.ExitCode.INTERRUPTED  # the run could not be carried out


def data_folder_missing(data_dir: object) -> str:
    return (f"clue-checks: data folder not found: {data_dir} (--clue-data names a folder laid out like CLUE's "
            "data/; see docs/data.md)")
