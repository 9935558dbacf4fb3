"""`clue init`, the suite and fixtures shipped in the package, and the default data folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import iniconfig
import pytest

from clue_checks.cli import main
from clue_checks.data.bundled import bundled_fixtures_dir, is_bundled_fixtures
from clue_checks.cli.init import SUITE_DIR, suite_files, write_suite
from clue_checks.report.numbers.thresholds import parse
from clue_checks.tasks import TASKS

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
PACKAGED_SUITE = REPO / "clue_checks" / "suite"


def test_repo_suite_is_a_copy_of_the_packaged_suite():
    """tests_clinical/ and thresholds.toml are what `clue init` ships, byte for byte, so a pip user runs
    exactly the repository's suite. Edit one side and copy it to the other."""
    packaged = {p.name for p in PACKAGED_SUITE.glob("test_*.py")}
    in_repo = {p.name for p in (REPO / SUITE_DIR).glob("test_*.py")}
    assert packaged == in_repo, f"modules only in the package: {packaged - in_repo}; only in {SUITE_DIR}/: {in_repo - packaged}"
    differ = [name for name in sorted(packaged)
              if (PACKAGED_SUITE / name).read_bytes() != (REPO / SUITE_DIR / name).read_bytes()]
    if (PACKAGED_SUITE / "thresholds.toml").read_bytes() != (REPO / "thresholds.toml").read_bytes():
        differ.append("thresholds.toml")
    assert not differ, (f"{', '.join(differ)} differ between clue_checks/suite/ (what `clue init` ships) and the "
                        "repository's copy: make them identical")


def test_every_task_has_a_packaged_module():
    marked = set()
    for path in PACKAGED_SUITE.glob("test_*.py"):
        marked.update(re.findall(r'pytest\.mark\.clue_task\("([^"]+)"\)', path.read_text(encoding="utf-8")))
    assert marked == set(TASKS)


def test_bundled_fixtures_hold_every_task_file():
    root = bundled_fixtures_dir()
    assert root == REPO / "clue_checks" / "fixtures"
    missing = [task.data_path for task in TASKS.values() if not (root / task.data_path).is_file()]
    assert not missing
    assert is_bundled_fixtures(root / "MedNLI" / "..")
    assert not is_bundled_fixtures(REPO / "fixtures")


def test_default_data_dir_is_the_bundled_fixtures(pytester: pytest.Pytester):
    from clue_checks.settings import resolve

    assert resolve(pytester.parseconfig()).data_dir == bundled_fixtures_dir()
    given = resolve(pytester.parseconfig("--clue-data=mine")).data_dir
    assert given == Path(pytester.path) / "mine"


def test_init_writes_the_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    dest = tmp_path / "new" / "suite"
    assert main(["init", str(dest)]) == 0
    out = capsys.readouterr().out
    files = suite_files()
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == sorted(files)
    for rel, content in files.items():
        assert (dest / rel).read_bytes() == content
        assert rel in out
    assert {f"{SUITE_DIR}/{p.name}" for p in PACKAGED_SUITE.glob("test_*.py")} <= set(files)
    ini = iniconfig.IniConfig(dest / "pytest.ini")
    assert ini["pytest"]["testpaths"] == SUITE_DIR
    assert ini["pytest"]["clue_thresholds"] == "thresholds.toml"
    assert "clue_data" not in ini["pytest"]  # commented out: the bundled fixtures until the user names real data
    thresholds = parse((dest / "thresholds.toml").read_text(encoding="utf-8"), "thresholds.toml")
    assert thresholds.gates and thresholds.floors


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "thresholds.toml").write_text("# mine\n")
    assert main(["init", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "thresholds.toml" in err and "--force" in err
    assert (tmp_path / "thresholds.toml").read_text() == "# mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thresholds.toml"]  # nothing else written

    assert main(["init", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "thresholds.toml").read_bytes() == suite_files()["thresholds.toml"]


@pytest.mark.parametrize("linked", ["thresholds.toml", SUITE_DIR])
def test_init_force_never_writes_through_a_symlink(tmp_path: Path, capsys: pytest.CaptureFixture[str], linked: str):
    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    outside.mkdir()
    victim = outside / "secret.toml"
    victim.write_text("# not yours\n")
    (project / linked).symlink_to(victim if linked == "thresholds.toml" else outside)
    assert main(["init", str(project), "--force"]) == 1
    err = capsys.readouterr().err
    assert "symbolic link" in err and linked in err and "nothing was written" in err
    assert victim.read_text() == "# not yours\n" and sorted(p.name for p in outside.iterdir()) == ["secret.toml"]
    assert sorted(p.name for p in project.iterdir()) == [linked]


def test_init_into_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    target = tmp_path / "a-file"
    target.write_text("x")
    assert main(["init", str(target)]) == 1
    assert "is a file, not a folder" in capsys.readouterr().err


def test_init_defaults_to_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    assert [p.as_posix() for p in write_suite(Path("."))] == list(suite_files())
    assert (tmp_path / "pytest.ini").is_file()
    assert main(["init"]) == 1  # now everything exists


def _site_packages() -> list[str]:
    """Where this interpreter finds its installed packages (a venv's own, or the system's)."""
    paths = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()]
    return list(dict.fromkeys(p for p in paths if Path(p).is_dir()))


@pytest.mark.slow
def test_pip_install_then_clue_init_runs(tmp_path: Path):
    """The user journey of issue "pip-installed users": a NON-editable `pip install .` into a fresh venv,
    `clue init` in an empty folder, then `pytest` there.

    To stay offline and quick, the venv is created without pip and without system site-packages, and a
    `.pth` file puts this interpreter's site-packages after its own: the dependencies (and pip, setuptools)
    come from the environment running the tests, while clue-checks itself is installed into the venv with
    `pip install --no-deps --no-build-isolation --ignore-installed` from a copy of the source tree (pyproject,
    README, package: no build files land in the checkout). A plain `.pth` path entry does not run the
    other environment's own `.pth` files, so an editable clue-checks there is not importable here; the test
    checks that the venv's copy is the one imported. PYTHONPATH is dropped for the same reason.
    """
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(REPO / "pyproject.toml", source)
    shutil.copy(REPO / "README.md", source)
    shutil.copytree(REPO / "clue_checks", source / "clue_checks",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    venv_site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                    check=True, capture_output=True, text=True, timeout=60).stdout.strip())
    (venv_site / "outer-environment.pth").write_text("\n".join(_site_packages()) + "\n")

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PIP_USER")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PIP_NO_INDEX="1")

    def run(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)

    install = run(str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--ignore-installed",
                  "--quiet", str(source), cwd=tmp_path)
    assert install.returncode == 0, install.stdout + install.stderr

    where = run(str(python), "-c", "import json, clue_checks\n"
                "from clue_checks.data.bundled import bundled_fixtures_dir\n"
                "from clue_checks.tasks import TASKS\n"
                "root = bundled_fixtures_dir()\n"
                "print(json.dumps({'package': clue_checks.__file__, 'fixtures': str(root),\n"
                "  'missing': [t.data_path for t in TASKS.values() if not (root / t.data_path).is_file()]}))",
                cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    installed = json.loads(where.stdout)
    assert Path(installed["package"]).is_relative_to(venv_site), installed  # not the checkout, not an editable copy
    assert Path(installed["fixtures"]).is_relative_to(venv_site) and installed["missing"] == [], installed

    project = tmp_path / "project"
    project.mkdir()
    init = run(str(bindir / "clue"), "init", cwd=project)
    assert init.returncode == 0, init.stdout + init.stderr
    assert (project / "pytest.ini").is_file() and (project / SUITE_DIR / "test_mednli.py").is_file()

    suite = run(str(python), "-m", "pytest", "--clue-tasks=mednli", "--clue-limit=3", "-p", "no:cacheprovider",
                "-p", "no:randomly", cwd=project)
    output = suite.stdout + suite.stderr
    # The embedded baseline may fail samples (exit 1); anything else (2: could not run, 4: usage) is a defect.
    assert suite.returncode in (0, 1), output
    summary = re.search(r"^=+ (.*) in [\d.]+s", output, re.M)  # pytest's summary line (the CLUE table follows it)
    assert summary, output
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|errors?)", summary.group(1))}
    assert counts.get("passed", 0) + counts.get("failed", 0) == 3 and not counts.get("error") \
        and not counts.get("errors"), output
    report = project / "clue-report" / "clue-report.json"
    assert report.is_file(), output
    text = report.read_text(encoding="utf-8")
    assert json.loads(text) and "mednli" in text
