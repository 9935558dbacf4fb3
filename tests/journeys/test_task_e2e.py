"""End-to-end: a user's own task, from a non-editable install in a fresh virtual environment.

The task is written only from docs/own-tasks.md (its files are the page's `file=` code blocks); it runs
against the embedded baseline, then against a second endpoint compared with the first run. A second
journey installs a tiny package that contributes a task through the `clue_checks.tasks` entry points.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sysconfig
import venv
from pathlib import Path

import pytest

from clue_checks.server import BaselineServer
from clue_checks.server.variants import FINETUNE_DEGRADED

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "own-tasks.md"

pytestmark = pytest.mark.slow


def doc_files() -> dict[str, str]:
    """The page's code blocks marked `file=NAME`, by name."""
    blocks = re.findall(r"```\w+ file=(\S+)\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    return dict(blocks)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with clue-checks installed from the worktree as a wheel (not editable); its dependencies
    come from this interpreter's site-packages (no network). One per test session: under xdist the workers
    share it (the first to take the lock builds it), and no test changes it."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # xdist: the session's, above the workers'
    root = shared / "installed-clue-checks"
    with open(shared / "installed-clue-checks.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if not (root / "built").exists():
            shutil.rmtree(root, ignore_errors=True)  # what a worker that failed half-way left
            root.mkdir()
            install_clue_checks(root)
            (root / "built").touch()
    return root / "venv" / "bin" / "python"


def install_clue_checks(root: Path) -> None:
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # A plain path line: the dependencies, but not this environment's editable finders (.pth files in it
    # are not run), so `clue_checks` comes from the wheel.
    Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    source = root / "source"  # the package's files only: a build leaves nothing in the working tree
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "clue_checks", source / "clue_checks",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pip([python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", str(source)], root)


def pip(command: list, cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=clean_env(), timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    env["HF_HUB_OFFLINE"] = "1"
    return env


def pytest_in(python: Path, project: Path, *args: str, site: Path | None = None) -> subprocess.CompletedProcess:
    """pytest in the installed environment; `site`: a folder of packages installed beside it (PYTHONPATH)."""
    env = clean_env() if site is None else {**clean_env(), "PYTHONPATH": str(site)}
    return subprocess.run([python, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--tb=line", *args], cwd=project,
                          capture_output=True, text=True, env=env, timeout=600)


def test_a_task_written_from_the_docs_runs_gates_and_compares_from_an_installed_wheel(installed, tmp_path):
    where = subprocess.run([installed, "-c", "import clue_checks; print(clue_checks.__file__)"], capture_output=True,
                           text=True, env=clean_env(), check=True, cwd=tmp_path).stdout
    assert str(installed.parents[1]) in where  # the wheel's copy, not the worktree's
    project = tmp_path / "project"
    project.mkdir()
    for name, text in doc_files().items():
        (project / name).write_text(text, encoding="utf-8")
    (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")

    first = pytest_in(installed, project, "--clue-report-dir=base", "--junitxml=base.xml")
    assert first.returncode in (0, 1), first.stdout[-3000:] + first.stderr[-2000:]
    report = json.loads((project / "base" / "clue-report.json").read_text())
    task = report["tasks"]["followup"]
    assert task["n_samples"] == 6 and task["level"] is None  # 8 rows, 2 shots
    accuracy = task["metrics"]["accuracy"]
    assert accuracy["ci95"][0] is not None and "cluster" in accuracy["method"]
    assert [g["gate"] for g in report["gates"]] == ["followup.accuracy >= 0.1"]
    junit = (project / "base.xml").read_text()
    assert len(set(re.findall(r"test_sample\[followup:f0\d\]", junit))) == 6  # one test per sample
    assert "followup.accuracy &gt;= 0.1" in junit or "followup.accuracy >= 0.1" in junit  # the gate, in JUnit
    assert "followup" in (project / "base" / "index.html").read_text()
    kinds = task["kinds"]  # every task's kinds (0 included), and those its choices parser and 0/1 metric read
    assert {"endpoint_error", "empty", "truncated", "repetition_loop"} <= set(kinds) <= \
        {"endpoint_error", "empty", "truncated", "repetition_loop", "format", "hedged", "wrong_answer"}
    assert sum(kinds.get(k, 0) for k in ("format", "hedged", "wrong_answer")) == task["n_failed"]  # one each
    assert "followup" not in json.dumps(report["levels"])  # beside CLUE's levels, not in them
    assert "data.sha256.followup.toml" in report["manifest"]  # the task file's hash

    with BaselineServer(port=0, variant=FINETUNE_DEGRADED) as second:
        new = pytest_in(installed, project, f"--model-endpoint={second.url}", "--clue-baseline=base",
                        "--clue-report-dir=new")
    assert new.returncode in (0, 1), new.stdout[-3000:] + new.stderr[-2000:]
    compared = json.loads((project / "new" / "clue-report.json").read_text())
    gate = [g for g in compared["comparison"]["gates"] if g["gate"] == "followup.accuracy noninferior 0.5"]
    assert gate and gate[0]["status"] in ("pass", "fail", "inconclusive"), compared["comparison"]
    paired = compared["comparison"]["tasks"]["followup"]  # its headline: the metric its file names
    assert (paired["metric"], paired["n"], paired["n_clusters"], paired["kind"]) == ("accuracy", 6, 4, "binary")
    table = subprocess.run([installed.parent / "clue", "compare", "base", "new"], cwd=project, capture_output=True,
                           text=True, env=clean_env(), timeout=300)
    assert "Follow-up questions" in table.stdout + table.stderr or "followup" in table.stdout + table.stderr


PACKAGE_TOML = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"
[project]
name = "ward-tasks"
version = "1.0"
[project.entry-points."clue_checks.tasks"]
ward = "ward_tasks:TASK_FILE"
[tool.setuptools.package-data]
ward_tasks = ["*.toml", "*.jsonl"]
"""


def test_an_installed_package_contributes_a_task_through_the_entry_point_group(installed, tmp_path):
    package = tmp_path / "ward-tasks"
    (package / "ward_tasks").mkdir(parents=True)
    (package / "pyproject.toml").write_text(PACKAGE_TOML, encoding="utf-8")
    (package / "ward_tasks" / "__init__.py").write_text(
        "from pathlib import Path\nTASK_FILE = Path(__file__).parent / 'ward.toml'\n", encoding="utf-8")
    files = doc_files()
    (package / "ward_tasks" / "followup.jsonl").write_text(files["followup.jsonl"], encoding="utf-8")
    (package / "ward_tasks" / "ward.toml").write_text(
        files["followup.toml"].replace('name = "followup"', 'name = "ward"'), encoding="utf-8")
    # Installed beside the shared environment (--target, on PYTHONPATH), which other tests use at the same time
    site = tmp_path / "site"
    pip([installed, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(site),
         str(package)], tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_ward.py").write_text(
        'import pytest\npytestmark = pytest.mark.clue_task("ward")\n\n\n'
        'def test_sample(clue_sample):\n    clue_sample.check()\n', encoding="utf-8")
    done = pytest_in(installed, project, "--clue-report-dir=rep", "--clue-tasks=ward", site=site)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-2000:]
    report = json.loads((project / "rep" / "clue-report.json").read_text())
    assert report["tasks"]["ward"]["n_samples"] == 6
    assert [g["gate"] for g in report["gates"]] == ["ward.accuracy >= 0.1"]

    (project / "clash.toml").write_text(files["followup.toml"].replace('name = "followup"', 'name = "ward"')
                                        .replace("followup.jsonl", "x.jsonl"), encoding="utf-8")
    (project / "test_clash.py").write_text(
        'import pytest\npytestmark = pytest.mark.clue_task(path="clash.toml")\n\n\n'
        'def test_sample(clue_sample):\n    clue_sample.check()\n', encoding="utf-8")
    clash = pytest_in(installed, project, "--clue-report-dir=rep2", site=site)
    assert clash.returncode != 0
    assert "two tasks are named 'ward'" in clash.stdout and "entry point 'ward'" in clash.stdout \
        and "clash.toml" in clash.stdout
