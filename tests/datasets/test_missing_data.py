"""Tasks whose data file is absent under --clue-data are not run, each said in one line; the rest run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fakes import copy_suite

from clue_checks.data.missing import how_to_get, missing_tasks
from clue_checks.server import BaselineServer

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "clue_checks" / "fixtures"

pytest_plugins = ["pytester"]

PATHS = {"meqsum": "MeQSum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx", "mednli": "MedNLI/mli_test_v1.jsonl",
         "longhealth-t2": "LongHealth/benchmark_v5.json", "medisumcode": "MeDiSumCode/MeDiSumCode.json"}


def test_a_public_set_names_its_fetch_command_and_a_credentialed_one_where_it_comes_from(tmp_path):
    assert how_to_get("meqsum", PATHS["meqsum"], tmp_path) == f"clue data fetch meqsum --dest {tmp_path}"
    assert how_to_get("longhealth-t2", PATHS["longhealth-t2"], tmp_path) == f"clue data fetch longhealth --dest {tmp_path}"
    assert "PhysioNet credentialed" in how_to_get("mednli", PATHS["mednli"], tmp_path)
    assert "generate it locally" in how_to_get("medisumcode", PATHS["medisumcode"], tmp_path)


def test_only_selected_tasks_whose_file_is_absent_are_missing_in_selection_order(tmp_path):
    (tmp_path / "MeQSum").mkdir()
    (tmp_path / PATHS["meqsum"]).write_bytes(b"x")
    (tmp_path / "MedNLI").mkdir()  # a folder without its file is still missing
    missing = missing_tasks(PATHS, ["mednli", "meqsum", "longhealth-t2"], tmp_path)
    assert list(missing) == ["mednli", "longhealth-t2"]
    assert missing["mednli"].startswith(f"mednli not run: no {tmp_path / PATHS['mednli']} (")
    assert missing_tasks(PATHS, ["unknown-task"], tmp_path) == {}  # its own reader says what is wrong


@pytest.mark.parametrize("workers", ["0", pytest.param("2", marks=pytest.mark.slow)])
def test_a_folder_with_the_public_sets_only_runs_them_and_says_which_tasks_did_not_run(pytester, tmp_path, workers):
    copy_suite(pytester.path)
    (pytester.path / "conftest.py").write_text("")
    data = tmp_path / "data"
    for folder in ("MeQSum", "LongHealth"):  # what `clue data fetch meqsum longhealth` leaves
        shutil.copytree(FIXTURES / folder, data / folder)
    with BaselineServer() as server:
        run = pytester.runpytest_inprocess if workers == "0" else pytester.runpytest_subprocess  # xdist: processes
        result = run(f"--clue-data={data}", f"--model-endpoint={server.url}", "--clue-tasks=meqsum,mednli,longhealth-t1",
                     "-n", workers, "--clue-limit=3", "-p", "no:cacheprovider")
    output = result.stdout.str()
    assert result.ret == 1, output  # not a usage error (2): the tasks with data ran
    assert "error" not in output.splitlines()[-1], output
    mednli_line = f"mednli not run: no {data / 'MedNLI' / 'mli_test_v1.jsonl'} (not fetchable: MedNLI: PhysioNet"
    assert sum(line.startswith(mednli_line) for line in output.splitlines()) == 1, output
    report = json.loads((pytester.path / "clue-report" / "clue-report.json").read_text())
    assert set(report["tasks"]) == {"meqsum", "longhealth-t1"}
    assert list(report["not_run"]) == ["mednli"]
    gates = {g["gate"]: g for g in report["gates"]}
    assert gates["mednli.accuracy >= 0.3"]["status"] == "not run"
    assert gates["mednli.accuracy >= 0.3"]["detail"].startswith(mednli_line)
    assert report["verdict"] != "pass"
