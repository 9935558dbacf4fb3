"""--junitxml: valid against pytest's xunit2 schema, one testcase per gate, sample details in system-out."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from clue_checks.record import SampleRecord
from clue_checks.report.numbers.aggregate import TaskSpec
from clue_checks.report.build import RunFacts, build_report
from clue_checks.report.write.junit import (JunitAdditions, add_gate_testcases, add_sample_output, add_suite_properties,
                                      sample_output, junit_case_name)
from clue_checks.report.numbers.thresholds import parse
from fakes import copy_suite

xmlschema = pytest.importorskip("xmlschema", reason="pip install clue-checks[test] (xmlschema)")

REPO = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).parents[1] / "data" / "junit-10.xsd"

pytest_plugins = ["pytester"]


def validate(path: Path) -> ET.Element:
    xmlschema.XMLSchema(str(SCHEMA)).validate(str(path))
    return ET.parse(path).getroot()


def gate_cases(root: ET.Element) -> dict[str, ET.Element]:
    return {t.get("name"): t for t in root.iter("testcase") if t.get("classname") == "clue.gates"}


def outcome(case: ET.Element) -> str:
    return case[0].tag if len(case) else "passed"


# A JUnit file as pytest writes it (xunit2) for one failed sample.
PYTEST_FILE = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" \
errors="0" failures="1" skipped="0" tests="1" time="0.1" timestamp="2026-12-07T10:00:00" hostname="h"><testcase \
classname="t.test_mednli" name="test_sample[mednli:s0]" time="0.001"><failure message="s0 failed: wrong label">\
s0 failed: wrong label</failure></testcase></testsuite></testsuites>"""
SAMPLE = "t/test_mednli.py::test_sample[mednli:s0]"


def written(tmp_path: Path, additions: JunitAdditions) -> Path:
    path = tmp_path / "junit.xml"
    path.write_text(PYTEST_FILE, encoding="utf-8")
    additions.rewrite(path)
    return path


def test_a_node_id_names_the_testcase_pytest_writes():
    assert junit_case_name(SAMPLE) == ("t.test_mednli", "test_sample[mednli:s0]")
    assert junit_case_name("a/b/test_x.py::TestK::test_y[p::q]", "pre") == ("pre.a.b.test_x.TestK", "test_y[p::q]")
    assert junit_case_name("clue.gates::mednli.accuracy >= 0.3") == ("clue.gates", "mednli.accuracy >= 0.3")


def test_gates_are_testcases_and_the_file_stays_valid(tmp_path):
    xml = JunitAdditions()
    record = SampleRecord("mednli", "s0", 0, "failed", metrics={"accuracy": 0.0}, reason="wrong label",
                          response="x" * 5000 + "<&>\x01", kinds=("off-format",))
    add_sample_output(xml, SimpleNamespace(nodeid=SAMPLE), sample_output(record))
    gates = parse('[gate]\n"mednli.accuracy" = ">= 0.5"\n"meqsum.rougeL" = ">= 0.2"\n'
                  '"problemsummary.rougeL" = ">= 0.2"\n', "t.toml").gates
    records = [SampleRecord("mednli", f"s{i}", i, "passed", metrics={"accuracy": 1.0}) for i in range(1, 4)]
    specs = (TaskSpec("mednli", "MedNLI", 1, ("accuracy",), n_total=4), TaskSpec("meqsum", "MeQSum", 1, ("rougeL",),
                                                                                    n_total=3))
    report = build_report([record, *records], RunFacts({}, {}, specs, gates=gates, not_selected=("problemsummary",)))
    add_gate_testcases(xml, report)
    add_suite_properties(xml, {"clue.verdict": report.verdict.word, "clue.model_revision": None})
    root = validate(written(tmp_path, xml))
    cases = gate_cases(root)
    assert {name: outcome(case) for name, case in cases.items()} == {
        "mednli.accuracy >= 0.5": "passed", "meqsum.rougeL >= 0.2": "skipped",
        "problemsummary.rougeL >= 0.2": "skipped", "verdict": "failure"}
    assert cases["problemsummary.rougeL >= 0.2"][0].get("message").startswith("not selected")
    assert "meqsum.rougeL" in cases["verdict"][0].get("message")
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "2", "2")
    out = root.find(".//testcase[@name='test_sample[mednli:s0]']/system-out").text
    assert "clue.metrics: accuracy=0" in out and "clue.kinds: off-format" in out and "characters not shown" in out
    assert out.endswith("<&>#x01\n")  # a character XML cannot carry, written as pytest writes it
    assert {p.get("name"): p.get("value") for p in suite.find("properties")} == {
        "clue.verdict": "not run", "clue.model_revision": ""}


def test_a_failing_gate_says_its_value_interval_and_why(tmp_path):
    xml = JunitAdditions()
    records = [SampleRecord("mednli", f"s{i}", i, "passed", metrics={"accuracy": float(i % 2)}) for i in range(6)]
    report = build_report(records, RunFacts({}, {}, (TaskSpec("mednli", "MedNLI", 1, ("accuracy",), n_total=6),),
                                            gates=parse('[gate]\n"mednli.accuracy" = ">= 0.9"\n', "t.toml").gates))
    add_gate_testcases(xml, report)
    failure = gate_cases(validate(written(tmp_path, xml)))["mednli.accuracy >= 0.9"][0]
    assert failure.tag == "failure"
    assert "mednli.accuracy = 0.5000, 95% CI [" in failure.get("message") and "over 6 samples" in failure.get("message")


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    copy_suite(pytester.path)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_other.py").write_text("def test_other():\n    assert True\n")
    return pytester


@pytest.mark.parametrize("workers", ["0", pytest.param("2", marks=pytest.mark.slow)])
def test_a_real_runs_junit_file_is_valid_xunit2_with_the_verdict(suite, workers):
    # -n 0 in this process; xdist's workers are processes. No endpoint: the embedded baseline answers, and
    # under xdist the controller writes the whole task's report (the journey of a first run with -n 2).
    run = suite.runpytest_inprocess if workers == "0" else suite.runpytest_subprocess
    result = run(f"--clue-data={REPO / 'clue_checks' / 'fixtures'}", "--clue-tasks=mednli", "--clue-no-cache",
                 "--junitxml=junit.xml", "-n", workers, "tests_clinical", "tests")
    assert result.ret == 1  # failing samples; the gates decide only in gate mode
    result.stdout.fnmatch_lines(["*CLUE report*", "MedNLI*accuracy*"])
    data = json.loads((suite.path / "clue-report" / "clue-report.json").read_text())
    assert data["run"]["server_kind"] == "clue-baseline"
    assert data["run"]["endpoints"] == ["embedded parameterless baseline"]
    assert data["tasks"]["mednli"]["n_samples"] == data["tasks"]["mednli"]["n_total"] > 0
    root = validate(suite.path / "junit.xml")
    cases = gate_cases(root)
    gates = [line.split(" = ")[0].strip('"') for line in (REPO / "thresholds.toml").read_text().splitlines()
             if line.startswith('"') and ">" in line]
    assert len(cases) == len(gates) + 1 and cases["mednli.accuracy >= 0.3"] is not None
    assert outcome(cases["mednli.accuracy >= 0.3"]) == "passed" and outcome(cases["verdict"]) == "passed"
    assert all(outcome(c) == "skipped" for name, c in cases.items() if not name.startswith(("mednli", "verdict")))
    samples = [t for t in root.iter("testcase") if "[mednli:" in (t.get("name") or "")]
    assert len(samples) == 45 and all("clue.metrics: accuracy=" in t.find("system-out").text for t in samples)
    assert all(t.find("properties") is None for t in root.iter("testcase"))  # xunit2 allows none there
    props = {p.get("name"): p.get("value") for p in root.find("testsuite/properties")}
    assert props["clue.verdict"] == "pass" and props["clue.model_id"]
    assert props["clue.data.sha256.MedNLI/mli_test_v1.jsonl"]
