"""--junitxml: valid against pytest's xunit2 schema, one testcase per gate, sample details in system-out."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from clue_checks.report.aggregate import SampleRecord, TaskSpec, aggregate
from clue_checks.report.junit import add_gate_testcases, add_sample_output, sample_output
from clue_checks.report.thresholds import parse
from fakes import copy_suite

xmlschema = pytest.importorskip("xmlschema", reason="pip install clue-checks[test] (xmlschema)")

REPO = Path(__file__).resolve().parents[1]
SCHEMA = Path(__file__).parent / "data" / "junit-10.xsd"

pytest_plugins = ["pytester"]


def validate(path: Path) -> ET.Element:
    xmlschema.XMLSchema(str(SCHEMA)).validate(str(path))
    return ET.parse(path).getroot()


def gate_cases(root: ET.Element) -> dict[str, ET.Element]:
    return {t.get("name"): t for t in root.iter("testcase") if t.get("classname") == "clue.gates"}


def outcome(case: ET.Element) -> str:
    return case[0].tag if len(case) else "passed"


def test_gates_are_testcases_and_the_file_stays_valid(tmp_path):
    from _pytest.junitxml import LogXML
    from _pytest.reports import TestReport

    xml = LogXML(str(tmp_path / "junit.xml"), None, family="xunit2")
    xml.pytest_sessionstart()
    sample = TestReport("t/test_mednli.py::test_sample[mednli:s0]", ("t/test_mednli.py", 5, "x"), {}, "failed",
                        "s0 failed: wrong label", "call")
    xml.pytest_runtest_logreport(sample)
    record = SampleRecord("mednli", "s0", 0, "failed", metrics={"accuracy": 0.0}, reason="wrong label",
                          response="x" * 5000 + "<&>\x01", kinds=("off-format",))
    add_sample_output(xml, sample, sample_output(record))
    xml.pytest_runtest_logreport(TestReport(sample.nodeid, sample.location, {}, "passed", None, "teardown"))
    gates = parse('[gate]\n"mednli.accuracy" = ">= 0.5"\n"meqsum.rougeL" = ">= 0.2"\n'
                  '"problemsummary.rougeL" = ">= 0.2"\n', "t.toml").gates
    records = [SampleRecord("mednli", f"s{i}", i, "passed", metrics={"accuracy": 1.0}) for i in range(1, 4)]
    result = aggregate([record, *records], [TaskSpec("mednli", "MedNLI", 1, ("accuracy",), n_total=4),
                                            TaskSpec("meqsum", "MeQSum", 1, ("rougeL",), n_total=3)],
                       gates, not_selected=["problemsummary"])
    add_gate_testcases(xml, result)
    xml.pytest_sessionfinish()
    root = validate(tmp_path / "junit.xml")
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


def test_a_failing_gate_says_its_value_interval_and_why(tmp_path):
    from _pytest.junitxml import LogXML

    xml = LogXML(str(tmp_path / "junit.xml"), None, family="xunit2")
    xml.pytest_sessionstart()
    records = [SampleRecord("mednli", f"s{i}", i, "passed", metrics={"accuracy": float(i % 2)}) for i in range(6)]
    result = aggregate(records, [TaskSpec("mednli", "MedNLI", 1, ("accuracy",), n_total=6)],
                       parse('[gate]\n"mednli.accuracy" = ">= 0.9"\n', "t.toml").gates)
    add_gate_testcases(xml, result)
    xml.pytest_sessionfinish()
    failure = gate_cases(validate(tmp_path / "junit.xml"))["mednli.accuracy >= 0.9"][0]
    assert failure.tag == "failure"
    assert "mednli.accuracy = 0.5000, 95% CI [" in failure.get("message") and "over 6 samples" in failure.get("message")


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    copy_suite(pytester.path)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_other.py").write_text("def test_other():\n    assert True\n")
    return pytester


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_real_runs_junit_file_is_valid_xunit2_with_the_verdict(suite, workers):
    result = suite.runpytest_subprocess(f"--clue-data={REPO / 'clue_checks' / 'fixtures'}", "--clue-tasks=mednli", "--clue-no-cache",
                                        "--junitxml=junit.xml", "-n", workers, "tests_clinical", "tests",
                                        timeout=300)
    assert result.ret == 1  # failing samples; the gates decide only in gate mode
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
