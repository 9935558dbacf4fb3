"""A CLUE session keeps the libraries it loads quiet about what it does not need."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "clue_checks" / "fixtures"

pytest_plugins = ["pytester"]


def test_a_clue_session_silences_transformers_advice_about_torch(pytester, monkeypatch):
    monkeypatch.setenv("TRANSFORMERS_NO_ADVISORY_WARNINGS", "")
    monkeypatch.delenv("TRANSFORMERS_NO_ADVISORY_WARNINGS")
    pytester.parseconfigure(f"--clue-data={FIXTURES}", "--clue-tasks=mednli", "-p", "no:cacheprovider")
    assert os.environ.get("TRANSFORMERS_NO_ADVISORY_WARNINGS") == "1"  # set before transformers is imported


def test_a_session_not_asking_for_clue_leaves_the_environment_alone(pytester, monkeypatch):
    monkeypatch.setenv("TRANSFORMERS_NO_ADVISORY_WARNINGS", "")
    monkeypatch.delenv("TRANSFORMERS_NO_ADVISORY_WARNINGS")
    pytester.makeini("[pytest]\n")
    pytester.parseconfigure("-p", "no:cacheprovider")
    assert "TRANSFORMERS_NO_ADVISORY_WARNINGS" not in os.environ


@pytest.fixture(autouse=True)
def _isolated_ini(pytester):
    pytester.makeini("[pytest]\n")
