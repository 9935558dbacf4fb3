"""A stand-in for the pytest.Config that settings.resolve reads: option values without a pytest session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


class FakeConfig:
    """Command-line values and ini values, both by ini name (what `getoption`/`getini` are asked for)."""

    def __init__(self, cli: dict[str, Any], ini: dict[str, Any] | None = None) -> None:
        self.cli, self.ini = cli, ini or {}
        self.invocation_params = type("InvocationParams", (), {"dir": REPO})()
        self.rootpath = REPO

    def getoption(self, name: str) -> Any:
        return self.cli.get(name)

    def getini(self, name: str) -> Any:
        return self.ini.get(name)
