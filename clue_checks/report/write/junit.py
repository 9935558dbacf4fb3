"""What CLUE adds to pytest's `--junitxml` file, valid against the xunit2 schema pytest's own tests use.

pytest writes the file in its `pytest_sessionfinish`; `JunitAdditions` collects what we add during the
run and rewrites the written file once, after pytest (roles/junit_file.py), through the file alone
(no pytest internals):

- to each sample's testcase a `<system-out>` with its metrics, failure kinds and a bounded response
  (xunit2 allows no `<properties>` inside a testcase, so `record_property` is not used);
- suite-level `<property>` elements: model id and revision, data hashes, verdict;
- one testcase per gate, classname `clue.gates`, named by its key and bar (`mednli.accuracy >= 0.3`):
  passed, failed (fail, incomplete, inconclusive: the status, value, interval and why) or skipped (not run,
  not selected, deferred to a merge), one per comparison gate
  (`clue.gates::compare mednli.accuracy noninferior 0.02`), and a `clue.gates::verdict` testcase, so a CI's
  test view shows the verdict and its reasons (`gate_cases`: the same testcases for every writer); the test
  suite's counts include them.

A report made outside a pytest session (`clue report merge --junitxml FILE`) gets the same file from
`junit_tree` / `write_junit`: each sample's testcase with its system-out, the gates and the verdict.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from clue_checks.record import SampleRecord
from clue_checks.report.numbers.task_gates import GateResult
from clue_checks.report.numbers.task_summary import TaskSummary
from clue_checks.report.document import Report
from clue_checks.report.write.redact import redact_reason, redact_text

# Characters XML 1.0 cannot carry, written as `#xNN` (as pytest writes them in its own file).
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"#x{ord(m.group()):02X}", text)


def junit_case_name(nodeid: str, prefix: str | None = None) -> tuple[str, str]:
    """(classname, name) of a node id's testcase, as pytest's JUnit writer names it: the file path dotted
    without `.py`, the classes, then the function with its parameters."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    classnames = ([prefix] if prefix else []) + names[:-1]
    return ".".join(classnames), xml_safe(names[-1])


@dataclass
class JunitAdditions:
    """What a run adds to the JUnit file, collected during the run and applied once to the written file."""

    prefix: str | None = None  #: pytest's --junit-prefix
    outputs: dict[tuple[str, str], list[str]] = field(default_factory=dict)  #: testcase -> system-out texts
    properties: list[tuple[str, str]] = field(default_factory=list)
    testcases: list[tuple[str, str, str | None]] = field(default_factory=list)  #: (node id, outcome, message)

    def add_output(self, nodeid: str, text: str) -> None:
        self.outputs.setdefault(junit_case_name(nodeid, self.prefix), []).append(text)

    def add_global_property(self, name: str, value: str) -> None:
        self.properties.append((name, value))

    def add_testcase(self, nodeid: str, outcome: str, message: str | None) -> None:
        """outcome: passed, failed or skipped."""
        self.testcases.append((nodeid, outcome, message))

    def apply(self, root: ET.Element) -> None:
        """Add everything to a parsed JUnit file (its root `<testsuites>` or `<testsuite>`)."""
        suite = root if root.tag == "testsuite" else root.find("testsuite")
        if suite is None:
            return
        for case in suite.iter("testcase"):
            for text in self.outputs.get((case.get("classname") or "", case.get("name") or ""), ()):
                ET.SubElement(case, "system-out").text = xml_safe(text)  # model output may hold anything
        if self.properties:
            properties = suite.find("properties")
            if properties is None:
                properties = ET.Element("properties")
                suite.insert(0, properties)
            for name, value in self.properties:
                ET.SubElement(properties, "property", name=xml_safe(name), value=xml_safe(value))
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for nodeid, outcome, message in self.testcases:
            classname, name = junit_case_name(nodeid)
            case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0.000")
            counts["tests"] += 1
            if outcome == "failed":
                ET.SubElement(case, "failure", message=xml_safe(message or "")).text = xml_safe(message or "")
                counts["failures"] += 1
            elif outcome == "skipped":
                ET.SubElement(case, "skipped", type="pytest.skip", message=xml_safe(message or "")).text = \
                    xml_safe(message or "")
                counts["skipped"] += 1
        for key, added in counts.items():
            if added:
                suite.set(key, str(int(suite.get(key) or 0) + added))

    def rewrite(self, path: Path) -> None:
        """Apply the additions to the JUnit file at `path` in place."""
        tree = ET.parse(path)
        self.apply(tree.getroot())
        tree.write(path, encoding="utf-8", xml_declaration=True)


GATES_CLASS = "clue.gates"
RESPONSE_CHARS = 2000  # of the response in system-out; the report's predictions file has it whole


def sample_output(record: SampleRecord, *, redact: bool = False) -> str:
    """The system-out text of a sample's testcase; `redact` (--clue-redact): its clinical text as hashes."""
    if redact:
        record = replace(record, reason=redact_reason(record.reason),
                         response=None if record.response is None else redact_text(record.response),
                         reference=None if record.reference is None else redact_text(record.reference))
    metrics = ", ".join(f"{k}={v:.6g}" if isinstance(v, (int, float)) else f"{k}=not computed "
                        f"({record.not_computed.get(k, 'no value')})" for k, v in record.metrics.items())
    response = record.response or ""
    shown = response if len(response) <= RESPONSE_CHARS else (
        response[: RESPONSE_CHARS // 2] + f"\n… [{len(response) - RESPONSE_CHARS:,} of {len(response):,} characters "
        "not shown: the whole text is in the report's predictions/ file] …\n" + response[-RESPONSE_CHARS // 2:])
    lines = [
        f"clue.sample: {record.task}:{record.sample_id}",
        f"clue.outcome: {record.outcome}",
        f"clue.reason: {record.reason}",
        f"clue.metrics: {metrics}",
        f"clue.kinds: {', '.join(record.kinds) if record.kinds else 'none'}",
        f"clue.finish_reason: {record.finish_reason}",
        f"clue.reference: {record.reference}",
        "clue.response:",
        shown,
    ]
    return "\n".join(lines) + "\n"


def add_sample_output(xml: JunitAdditions, report: Any, text: str) -> None:
    """A `<system-out>` for the report's testcase."""
    xml.add_output(report.nodeid, text)


def add_suite_properties(xml: JunitAdditions, properties: Mapping[str, object]) -> None:
    for name, value in properties.items():
        xml.add_global_property(name, "" if value is None else str(value))


def _summary(gate: GateResult, tasks: Mapping[str, TaskSummary]) -> str:
    summary = tasks.get(gate.gate.task)
    metric = summary.metric(gate.gate.metric) if summary else None
    if metric is None or metric.value is None:
        return gate.detail
    ci = (f", 95% CI [{metric.ci_low:.4f}, {metric.ci_high:.4f}]" if metric.ci_low is not None
          and metric.ci_high is not None else "")
    return f"{gate.gate.task}.{gate.gate.metric} = {metric.value:.4f}{ci}, n = {metric.n}: {gate.detail}"


@dataclass(frozen=True)
class Case:
    """One testcase of the verdict: `outcome` "passed", "failed" or "skipped", with its message."""

    nodeid: str
    outcome: str
    message: str = ""


def _case(nodeid: str, status: str, failed: str, skipped: str) -> Case:
    if status == "pass":
        return Case(nodeid, "passed")
    if status in ("not run", "not selected", "deferred"):  # not judged here (a "not run" still keeps a pass away)
        return Case(nodeid, "skipped", skipped)
    return Case(nodeid, "failed", failed)  # fail, incomplete, inconclusive, or a status this version does not know


def gate_cases(report: Report) -> list[Case]:
    """The report's gates, comparison gates and verdict as testcases, in that order."""
    tasks = {t.task: t for t in report.tasks}
    cases = [_case(f"{GATES_CLASS}::{g.gate.name}", g.status, f"gate {g.status}: {_summary(g, tasks)}",
                   f"{g.status}: {g.detail}") for g in report.gates]
    cases += [_case(f"{GATES_CLASS}::compare {g.gate.name}", g.status, f"compare gate {g.status}: {g.detail}",
                    f"{g.status}: {g.detail}") for g in report.comparison.gates]
    verdict = report.verdict
    reasons = "; ".join(verdict.reasons)
    # Skipped only where there is nothing to decide (a shard; no gate at all); every other word is not a pass.
    undecided = verdict.word == "deferred" or (verdict.word == "not run" and verdict.reasons
                                               and verdict.reasons[0].startswith("no [gate]"))
    status = "pass" if verdict.word == "pass" else "not run" if undecided else "fail"
    cases.append(_case(f"{GATES_CLASS}::verdict", status, f"verdict {verdict.word.upper()}: {reasons}",
                       f"verdict {verdict.word}: {reasons}"))
    return cases


def add_gate_testcases(xml: JunitAdditions, report: Report) -> None:
    """The gate, comparison-gate and verdict testcases, added to pytest's file after it is written."""
    for case in gate_cases(report):
        xml.add_testcase(case.nodeid, case.outcome, case.message or None)


def suite_properties(run: Mapping[str, Any], manifest: Mapping[str, Any], verdict: str,
                     warnings: Sequence[str] = ()) -> dict[str, object]:
    props: dict[str, object] = {
        "clue.model_id": run.get("model_id"),
        "clue.model_revision": run.get("model_revision") or "not reported",
        "clue.server_kind": run.get("server_kind"),
        "clue.profile": run.get("profile"),
        "clue.verdict": verdict,
        "clue.clue_checks_version": manifest.get("clue_checks.version"),
    }
    props.update({f"clue.{k}": v for k, v in manifest.items() if k.startswith("data.sha256.")})
    props.update({f"clue.warning.{i}": w for i, w in enumerate(warnings, start=1)})
    return props


def suite_properties_of(report: Report) -> dict[str, object]:
    return suite_properties(report.run, report.manifest, report.verdict.word, report.warnings)


# -- a JUnit file of its own (a report made outside a pytest session: `clue report merge`) ------------------


def junit_tree(report: Report, *, suite_name: str = "pytest", redact: bool = False) -> ET.ElementTree:
    """The xunit2 document a gate-mode run writes with --junitxml: one testcase per sample (its system-out),
    the gates, the comparison gates and the verdict, and the suite properties."""
    suite = ET.Element("testsuite", name=suite_name)
    props = ET.SubElement(suite, "properties")
    for name, value in suite_properties_of(report).items():
        ET.SubElement(props, "property", name=name, value=xml_safe("" if value is None else str(value)))
    counts = {"failed": 0, "skipped": 0, "errors": 0}
    for rows in report.records_to_write().values():
        for record in rows:
            nodeid = record.node_id or f"{record.task}::{record.sample_id}"
            classname, name = junit_case_name(nodeid)
            case = ET.SubElement(suite, "testcase", classname=classname, name=name)
            if record.outcome == "failed":
                ET.SubElement(case, "failure", message=xml_safe(record.reason)).text = xml_safe(record.reason)
                counts["failed"] += 1
            elif record.outcome == "error":
                ET.SubElement(case, "error", message=xml_safe(record.reason)).text = xml_safe(record.reason)
                counts["errors"] += 1
            ET.SubElement(case, "system-out").text = xml_safe(sample_output(record.filled(), redact=redact))
    for gate in gate_cases(report):
        case = ET.SubElement(suite, "testcase", classname=GATES_CLASS, name=gate.nodeid.split("::", 1)[1])
        if gate.outcome == "failed":
            ET.SubElement(case, "failure", message=xml_safe(gate.message)).text = xml_safe(gate.message)
            counts["failed"] += 1
        elif gate.outcome == "skipped":
            ET.SubElement(case, "skipped", type="pytest.skip", message=xml_safe(gate.message))
            counts["skipped"] += 1
    suite.set("tests", str(len(suite.findall("testcase"))))
    suite.set("failures", str(counts["failed"]))
    suite.set("errors", str(counts["errors"]))
    suite.set("skipped", str(counts["skipped"]))
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.ElementTree(root)


def write_junit(path: Path, report: Report, *, redact: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    junit_tree(report, redact=redact).write(path, encoding="utf-8", xml_declaration=True)
    return path
