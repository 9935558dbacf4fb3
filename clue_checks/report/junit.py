"""What CLUE adds to pytest's `--junitxml` file, valid against the xunit2 schema pytest's own tests use.

pytest's `LogXML` (`_pytest.junitxml`, kept in `config.stash[xml_key]`) writes the file in its
`pytest_sessionfinish`. Before that we add, through its public methods:

- to each sample's testcase a `<system-out>` with its metrics, failure kinds and a bounded response
  (xunit2 allows no `<properties>` inside a testcase, so `record_property` is not used);
- suite-level `<property>` elements: model id and revision, data hashes, verdict;
- one testcase per gate, classname `clue.gates`, named by its key and bar (`mednli.accuracy >= 0.3`):
  passed, failed (fail, incomplete, inconclusive: the status, value, interval and why) or skipped (not run,
  not selected, deferred to a merge), one per comparison gate
  (`clue.gates::compare mednli.accuracy noninferior 0.02`), and a `clue.gates::verdict` testcase, so a CI's
  test view shows the verdict and its reasons (`gate_cases`: the same testcases for every writer).

A report made outside a pytest session (`clue report merge --junitxml FILE`) gets the same file from
`junit_tree` / `write_junit`: each sample's testcase with its system-out, the gates and the verdict.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _pytest.junitxml import bin_xml_escape
from _pytest.reports import TestReport

from .aggregate import GateResult, SampleRecord, TaskSummary
from .document import Report

GATES_CLASS = "clue.gates"
RESPONSE_CHARS = 2000  # of the response in system-out; the report's predictions file has it whole


def sample_output(record: SampleRecord, *, redact: bool = False) -> str:
    """The system-out text of a sample's testcase; `redact` (--clue-redact): its clinical text as hashes."""
    if redact:
        from dataclasses import replace

        from .redact import redact_reason, redact_text

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


def add_sample_output(xml: Any, report: TestReport, text: str) -> None:
    """Append a `<system-out>` to the report's testcase (before pytest closes it at teardown)."""
    node = ET.Element("system-out")
    node.text = bin_xml_escape(text)  # model output may hold characters XML cannot carry
    xml.node_reporter(report).append(node)


def add_suite_properties(xml: Any, properties: Mapping[str, object]) -> None:
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


def add_gate_testcases(xml: Any, report: Report) -> None:
    """The gate testcases fed through pytest's `LogXML` (so its counts stay right)."""
    for case in gate_cases(report):
        if case.outcome == "skipped":
            _feed(xml, case.nodeid, "skipped", (GATES_CLASS, 0, case.message))
        else:
            _feed(xml, case.nodeid, case.outcome, case.message or None)


def _feed(xml: Any, nodeid: str, outcome: str, longrepr: Any) -> None:
    """One synthetic testcase through LogXML's own report handling (so its counts stay right)."""
    location = (GATES_CLASS, None, nodeid)
    when = "setup" if outcome == "skipped" else "call"
    xml.pytest_runtest_logreport(TestReport(nodeid, location, {}, outcome, longrepr, when))  # type: ignore[arg-type]
    xml.pytest_runtest_logreport(TestReport(nodeid, location, {}, "passed", None, "teardown"))


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


def _mangled(nodeid: str) -> tuple[str, str]:
    """(classname, name) of a test id, as pytest's junitxml writes them."""
    path, _, rest = nodeid.partition("::")
    names = [path.replace("/", ".").removesuffix(".py"), *rest.split("::")] if rest else [path]
    return ".".join(names[:-1]), names[-1]


def junit_tree(report: Report, *, suite_name: str = "pytest", redact: bool = False) -> ET.ElementTree:
    """The xunit2 document a gate-mode run writes with --junitxml: one testcase per sample (its system-out),
    the gates, the comparison gates and the verdict, and the suite properties."""
    suite = ET.Element("testsuite", name=suite_name)
    props = ET.SubElement(suite, "properties")
    for name, value in suite_properties_of(report).items():
        ET.SubElement(props, "property", name=name, value=bin_xml_escape("" if value is None else str(value)))
    counts = {"failed": 0, "skipped": 0, "errors": 0}
    for rows in report.records_to_write().values():
        for record in rows:
            nodeid = record.node_id or f"{record.task}::{record.sample_id}"
            classname, name = _mangled(nodeid)
            case = ET.SubElement(suite, "testcase", classname=classname, name=name)
            if record.outcome == "failed":
                ET.SubElement(case, "failure", message=bin_xml_escape(record.reason)).text = bin_xml_escape(record.reason)
                counts["failed"] += 1
            elif record.outcome == "error":
                ET.SubElement(case, "error", message=bin_xml_escape(record.reason)).text = bin_xml_escape(record.reason)
                counts["errors"] += 1
            ET.SubElement(case, "system-out").text = bin_xml_escape(sample_output(record, redact=redact))
    for gate in gate_cases(report):
        case = ET.SubElement(suite, "testcase", classname=GATES_CLASS, name=gate.nodeid.split("::", 1)[1])
        if gate.outcome == "failed":
            ET.SubElement(case, "failure", message=bin_xml_escape(gate.message)).text = bin_xml_escape(gate.message)
            counts["failed"] += 1
        elif gate.outcome == "skipped":
            ET.SubElement(case, "skipped", type="pytest.skip", message=bin_xml_escape(gate.message))
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
