"""What CLUE adds to pytest's `--junitxml` file, valid against the xunit2 schema pytest's own tests use.

pytest's `LogXML` (`_pytest.junitxml`, kept in `config.stash[xml_key]`) writes the file in its
`pytest_sessionfinish`. Before that we add, through its public methods:

- to each sample's testcase a `<system-out>` with its metrics, failure kinds and a bounded response
  (xunit2 allows no `<properties>` inside a testcase, so `record_property` is not used);
- suite-level `<property>` elements: model id and revision, data hashes, verdict;
- one testcase per gate, classname `clue.gates`, named by its key and bar (`mednli.accuracy >= 0.3`):
  passed, failed (value, interval and why) or skipped (not run, not selected, deferred to a merge),
  one per comparison gate (`clue.gates::compare mednli.accuracy noninferior 0.02`),
  and a `clue.gates::verdict` testcase, so a CI's test view shows the verdict and its reasons.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from _pytest.junitxml import bin_xml_escape
from _pytest.reports import TestReport

from .aggregate import AggregateResult, GateResult, SampleRecord, TaskSummary

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


def _feed(xml: Any, nodeid: str, outcome: str, longrepr: Any) -> None:
    """One synthetic testcase through LogXML's own report handling (so its counts stay right)."""
    location = (GATES_CLASS, None, nodeid)
    when = "setup" if outcome == "skipped" else "call"
    xml.pytest_runtest_logreport(TestReport(nodeid, location, {}, outcome, longrepr, when))  # type: ignore[arg-type]
    xml.pytest_runtest_logreport(TestReport(nodeid, location, {}, "passed", None, "teardown"))


def add_gate_testcases(xml: Any, result: AggregateResult) -> None:
    tasks = {t.task: t for t in result.tasks}
    for gate in result.gates:
        nodeid = f"{GATES_CLASS}::{gate.gate.name}"
        text = _summary(gate, tasks)
        if gate.status == "pass":
            _feed(xml, nodeid, "passed", None)
        elif gate.status in ("fail", "incomplete"):
            _feed(xml, nodeid, "failed", f"gate {gate.status}: {text}")
        else:  # not run, not selected, deferred
            _feed(xml, nodeid, "skipped", (GATES_CLASS, 0, f"{gate.status}: {gate.detail}"))
    nodeid = f"{GATES_CLASS}::verdict"
    reasons = "; ".join(result.verdict_reasons)
    if result.verdict == "pass":
        _feed(xml, nodeid, "passed", None)
    elif result.verdict == "fail":
        _feed(xml, nodeid, "failed", f"verdict FAIL: {reasons}")
    else:
        _feed(xml, nodeid, "skipped", (GATES_CLASS, 0, f"verdict {result.verdict}: {reasons}"))


def add_compare_gate_testcases(xml: Any, gates: Sequence[Any]) -> None:
    """One testcase per comparison gate (report/compare_gates.py), classname `clue.gates` like the task
    gates: passed, failed (fail, inconclusive, incomplete: the difference, its interval and why) or skipped
    (not run, with the reason; it still keeps the verdict from passing)."""
    for gate in gates:
        nodeid = f"{GATES_CLASS}::compare {gate.gate.name}"
        if gate.status == "pass":
            _feed(xml, nodeid, "passed", None)
        elif gate.status in ("fail", "inconclusive", "incomplete"):
            _feed(xml, nodeid, "failed", f"compare gate {gate.status}: {gate.detail}")
        else:
            _feed(xml, nodeid, "skipped", (GATES_CLASS, 0, f"{gate.status}: {gate.detail}"))


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
