"""pytest-xdist is optional: without it installed a CLUE run works, and `-n` gets pytest's own error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakes import copy_suite

REPO = Path(__file__).resolve().parents[2]

# `xdist` cannot be imported, as if it were not installed; plugins load by -p only (autoload would
# load the installed xdist's entry point).
WITHOUT_XDIST = """
import sys, pytest

class NoXdist:
    def find_spec(self, name, path=None, target=None):
        if name == "xdist" or name.startswith("xdist."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoXdist())
sys.exit(pytest.main(["-p", "clue_checks.plugin", *sys.argv[1:]]))
"""


def run_without_xdist(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": os.pathsep.join(
        [str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", WITHOUT_XDIST, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_a_clue_run_needs_no_xdist(tmp_path):
    copy_suite(tmp_path)
    result = run_without_xdist(tmp_path, "tests_clinical/test_mednli.py", "--clue-limit=3", "--clue-no-cache",
                               "-p", "no:cacheprovider", "-q", "--tb=no")
    assert "xdist" not in result.stderr, result.stderr
    assert "3 passed" in result.stdout or "failed" in result.stdout, result.stdout + result.stderr
    assert (tmp_path / "clue-report" / "clue-report.json").is_file()


@pytest.mark.slow
def test_dash_n_without_xdist_is_pytests_own_usage_error(tmp_path):
    copy_suite(tmp_path)
    result = run_without_xdist(tmp_path, "tests_clinical/test_mednli.py", "-n", "2", "-p", "no:cacheprovider")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: -n" in result.stderr, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
