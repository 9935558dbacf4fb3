"""The report built once from plain values (report/build.py -> report/document.py), its verdict
(report/verdict.py) and each writer of it; no pytest session anywhere."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clue_checks.report import merge as merge_mod
from clue_checks.record import SampleRecord
from clue_checks.report.numbers.aggregate import TaskSpec
from clue_checks.report.build import BaselineFacts, RunFacts, build_report
from clue_checks.report.document import SCHEMA_VERSION, Report, ReportFormatError
from clue_checks.report.write.junit import gate_cases, junit_tree
from clue_checks.report.numbers.thresholds import parse
from clue_checks.report.verdict import EXIT_INCONCLUSIVE, Verdict, decide, exit_code
from clue_checks.report.write.folder import write_folder
from clue_checks.report.write.markdown import markdown
from clue_checks.report.write.terminal import summary_lines
from clue_checks.triage.kinds import kinds_of_task

jsonschema = pytest.importorskip("jsonschema", reason="pip install clue-checks[test] (jsonschema)")

SCHEMA = json.loads(resources.files("clue_checks.report").joinpath("report_schema.json").read_text(encoding="utf-8"))
THRESHOLDS_TEXT = ('[gate]\n"mednli.accuracy" = ">= 0.5"\n[compare]\n"mednli.accuracy" = "noninferior 0.2"\n'
                   '"longhealth-t1.accuracy" = "no regression"\n')
THRESHOLDS = parse(THRESHOLDS_TEXT, "t.toml")
SPECS = (TaskSpec("mednli", "MedNLI", 1, ("accuracy",), n_total=20),
         TaskSpec("longhealth-t1", "LongHealth task 1", 2, ("accuracy", "accuracy_lenient", "parsed"), n_total=20))
RUN = {"model_id": "tuned", "model_revision": "r1", "server_kind": "tgi", "endpoints": ["http://127.0.0.1:1"],
       "api": "generate", "profile": "paper", "data_dir": "data", "tasks": None, "shard": None,
       "seeds": {"shots": 1, "longhealth": 2, "bootstrap": 3, "bootstrap_resamples": 1000}}
MANIFEST = {"profile": "paper", "prompts.sha256": "abc", "data.sha256.mednli.jsonl": "d1",
            "thresholds.content": THRESHOLDS_TEXT, "thresholds.source": "t.toml"}


def records(wrong: set[int], *, model: str = "tuned") -> list[SampleRecord]:
    out = []
    for task in ("mednli", "longhealth-t1"):
        for i in range(20):
            cluster = f"longhealth:p/q{i // 5}" if task.startswith("longhealth") else None
            ok = i not in wrong
            out.append(SampleRecord(task, f"s{i:02d}", i, "passed" if ok else "failed",
                                    metrics={"accuracy": 1.0 if ok else 0.0, **({"accuracy_lenient": 1.0, "parsed": 1.0}
                                                                                if cluster else {})},
                                    response=f"{model} {i}",
                                    reference="ref", cluster=cluster, source="sent", latency_s=0.1,
                                    node_id=f"tests_clinical/test_{task}.py::test_sample[{task}:s{i:02d}]"))
    return out


def facts(**changes) -> RunFacts:
    base = RunFacts(run=RUN, manifest=MANIFEST, specs=SPECS, gates=THRESHOLDS.gates, compare_gates=THRESHOLDS.compare,
                    requests={"sent": 40, "failed": 0, "from_store": 0, "shared": 0}, request_stats={"sent": 40},
                    duration_s=2.0)
    return replace(base, **changes)


def against_base(new_wrong: set[int], base_wrong: set[int] = frozenset(), **changes) -> Report:
    base = BaselineFacts.of_report({"run": RUN, "manifest": MANIFEST}, records(set(base_wrong), model="base"),
                                   source="base-dir")
    return build_report(records(new_wrong), facts(**changes), baseline=base)


def check_schema(report: Report) -> dict:
    data = json.loads(json.dumps(report.as_dict(), allow_nan=False))
    jsonschema.validate(data, SCHEMA)
    return data


# -- the document ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("build", [
    lambda: build_report(records({3}), facts()),  # no baseline: comparison gates not run
    lambda: build_report(records({3}), facts(compare_gates=(), duration_s=None)),  # no comparison, no performance
    lambda: against_base({3}),
    lambda: against_base(set(range(12))),
    lambda: build_report(records({3}), facts(), baseline=BaselineFacts({"source": "x"}, unavailable="gone")),
    lambda: build_report(records({3}), facts(deferred="shard 1/2: decided by the merge")),
])
def test_every_report_matches_the_documented_schema_and_reads_back_the_same(build):
    report = build()
    data = check_schema(report)
    assert data["schema"] == "clue-report" and data["schema_version"] == SCHEMA_VERSION
    back = Report.from_dict(data, report.records)
    assert back.as_dict() == data and back.verdict == report.verdict
    assert [g.gate for g in back.gates] == [g.gate for g in report.gates]
    assert [g.gate for g in back.comparison.gates] == [g.gate for g in report.comparison.gates]


def test_a_newer_schema_or_a_foreign_document_is_refused_with_the_reason():
    data = build_report(records(set()), facts()).as_dict()
    with pytest.raises(ReportFormatError, match="newer clue-checks"):
        Report.from_dict({**data, "schema_version": SCHEMA_VERSION + 1})
    with pytest.raises(ReportFormatError, match="not a clue-checks report"):
        Report.from_dict({"tasks": {"mednli": {"title": "MedNLI"}}, "verdict": "pass"})


def test_the_report_is_frozen_and_the_records_given_are_not_changed():
    given = records({1})
    report = build_report(given, facts())
    with pytest.raises(AttributeError):
        report.verdict = Verdict("pass")  # type: ignore[misc]
    with pytest.raises(TypeError):
        report.run["model_id"] = "other"  # type: ignore[index]
    assert given == records({1})


# -- the verdict, decided once ---------------------------------------------------------------------------


def gate(status: str, name: str = "g"):
    return SimpleNamespace(status=status, gate=SimpleNamespace(name=name))


COMPLETE = SimpleNamespace(complete=True, title="T", n_samples=1, n_total=1, n_errored=0)
PARTIAL = SimpleNamespace(complete=False, title="T", n_samples=1, n_total=2, n_errored=0)


@pytest.mark.parametrize(("statuses", "tasks", "word"), [
    (["pass"], [COMPLETE], "pass"),
    (["pass", "fail"], [COMPLETE], "fail"),
    (["fail", "incomplete", "inconclusive"], [COMPLETE], "fail"),  # a decided failure is said as one
    (["pass", "incomplete", "inconclusive"], [COMPLETE], "incomplete"),
    (["pass"], [PARTIAL], "incomplete"),
    (["pass", "inconclusive"], [COMPLETE], "inconclusive"),
    (["pass", "not run"], [COMPLETE], "not run"),
    (["not selected"], [COMPLETE], "not run"),  # no gate counts
    ([], [COMPLETE], "not run"),
    (["pass", "a status from a later version"], [COMPLETE], "fail"),  # never a pass
])
def test_the_verdict_has_five_words_and_only_pass_is_a_pass(statuses, tasks, word):
    verdict = decide([gate(s, f"g{i}") for i, s in enumerate(statuses)], tasks)
    assert verdict.word == word and verdict.passed == (word == "pass")
    assert (verdict.reasons == ()) == (word == "pass")


STATUSES = ("pass", "fail", "incomplete", "inconclusive", "not run", "not selected", "deferred")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(STATUSES), max_size=5), st.lists(st.sampled_from(STATUSES[:5]), max_size=3),
       st.lists(st.booleans(), max_size=3), st.booleans())
def test_only_every_counted_gate_passing_on_complete_tasks_is_a_pass(task_gates, compare, complete, blocked):
    tasks = [COMPLETE if ok else PARTIAL for ok in complete]
    verdict = decide([gate(s) for s in task_gates], tasks, compare_gates=[gate(s) for s in compare],
                     pass_blockers=["blocked"] if blocked else [])
    counted = [s for s in task_gates if s not in ("not selected", "deferred")] + compare
    assert verdict.passed == (bool(counted) and set(counted) == {"pass"} and all(complete) and not blocked)
    if "fail" in counted or (blocked and counted):
        assert verdict.word == "fail"  # a decided failure is never reported as anything milder
    assert verdict.word in ("pass", "fail", "inconclusive", "incomplete", "not run")
    assert exit_code(verdict) == (0 if verdict.passed else 6 if verdict.word == "inconclusive" else 1)


def test_comparison_gates_count_with_the_task_gates_and_an_inconclusive_one_has_its_own_exit_code():
    verdict = decide([gate("pass")], [COMPLETE], compare_gates=[gate("inconclusive", "mednli.accuracy no regression")])
    assert verdict == Verdict("inconclusive", ("compare gate inconclusive: mednli.accuracy no regression",))
    assert exit_code(verdict) == EXIT_INCONCLUSIVE == 6
    assert exit_code(Verdict("pass")) == exit_code(Verdict("deferred", ("shard",))) == 0
    assert {exit_code(Verdict(w)) for w in ("fail", "incomplete", "not run")} == {1}
    assert decide([], [COMPLETE], compare_gates=[gate("pass")]).word == "pass"  # comparison gates alone decide
    assert decide([gate("fail")], [COMPLETE], deferred="shard 1/2").word == "deferred"
    assert decide([gate("pass")], [COMPLETE], pass_blockers=["synthetic"]) == Verdict("fail", ("synthetic",))


def test_the_builder_decides_the_verdict_over_both_kinds_of_gate():
    same = against_base(set())  # one LongHealth patient cannot rule out a 2-point drop: not a pass
    assert same.verdict == Verdict("inconclusive", ("compare gate inconclusive: longhealth-t1.accuracy no regression",))
    assert [g.status for g in same.comparison.gates] == ["pass", "inconclusive"]
    dropped = against_base(set(range(12)))  # mednli 0.4 against 1.0: fails its task gate and its comparison gate
    assert dropped.verdict.word == "fail"
    assert "compare gate fail: mednli.accuracy noninferior 0.2" in dropped.verdict.reasons
    alone = build_report(records(set()), facts())
    assert alone.verdict == Verdict("not run", ("compare gate not run: mednli.accuracy noninferior 0.2",
                                                "compare gate not run: longhealth-t1.accuracy no regression"))
    assert alone.comparison.section["not_computed"].startswith("no baseline")


def test_a_baseline_that_cannot_be_had_or_compared_is_an_error_on_the_report():
    gone = build_report(records(set()), facts(), baseline=BaselineFacts({"source": "x"}, unavailable="x: not found"))
    assert gone.comparison.error == "x: not found" and gone.verdict.word == "not run"
    other = BaselineFacts.of_report({"run": RUN, "manifest": {**MANIFEST, "prompts.sha256": "other"}},
                                    records(set()), source="elsewhere")
    refused = build_report(records(set()), facts(), baseline=other)
    assert "not comparable" in refused.comparison.error and not refused.comparison.compared
    forced = build_report(records(set()), facts(), baseline=replace(other, force=True))
    assert forced.comparison.error is None and forced.comparison.section["forced"]


def test_answers_of_a_baseline_endpoint_travel_on_the_records_and_are_compared_like_a_folders():
    from clue_checks.report.compare.baseline import baseline_of

    base = {(r.task, r.sample_id): r for r in records({0, 1}, model="base")}
    carried = [replace(r, baseline=baseline_of(base[(r.task, r.sample_id)])) for r in records(set())]
    in_session = build_report(carried, facts(), baseline=BaselineFacts({"source": "http://b", "kind": "endpoint"}))
    folder = against_base(set(), {0, 1})
    assert in_session.comparison.section["tasks"] == folder.comparison.section["tasks"]
    assert [g.as_dict() for g in in_session.comparison.gates] == [g.as_dict() for g in folder.comparison.gates]


# -- the writers -----------------------------------------------------------------------------------------


def test_markdown_puts_the_comparison_before_the_gates_and_the_run_statistics_last():
    md = markdown(against_base({3}, {4}))
    order = [md.index(h) for h in ("# CLUE report", "## CLUE levels", "## Against the baseline", "## Gates: ",
                                   "## Failing samples", "## Provenance", "## Run statistics")]
    assert order == sorted(order)
    assert "- **fail** `mednli.accuracy noninferior 0.2`" not in md  # comparison gates are listed as such
    assert "Comparison gates:" in md and "`longhealth-t1:s03`" in md
    no_perf = markdown(build_report(records(set()), facts(duration_s=None, compare_gates=())))
    assert "## Run statistics" not in no_perf and "## Against the baseline" not in no_perf


def test_terminal_lines_say_the_verdict_the_comparison_and_how_the_run_went():
    lines = [line for line, _ in summary_lines(against_base({3}, {4}))]
    assert "verdict: FAIL (compare gate fail: mednli.accuracy noninferior 0.2)" not in lines  # it passes: 1 broke
    assert any(line.startswith("against the baseline tuned (base-dir)") for line in lines)
    assert any(line.startswith("compare gate PASS") for line in lines)
    assert any(line.startswith("run: 2.0 s") for line in lines)
    refused = [(line, markup) for line, markup in summary_lines(build_report(
        records(set()), facts(), baseline=BaselineFacts({"source": "x"}, unavailable="x: gone")))]
    assert ("x: gone", {"red": True}) in refused


def test_junit_has_each_sample_gate_and_the_verdict_and_is_valid_xunit2(tmp_path):
    xmlschema = pytest.importorskip("xmlschema")
    report = against_base(set(range(12)))
    tree = junit_tree(report)
    path = tmp_path / "junit.xml"
    tree.write(path, encoding="utf-8", xml_declaration=True)
    xmlschema.XMLSchema(str(Path(__file__).parents[1] / "data" / "junit-10.xsd")).validate(str(path))
    cases = {c.get("name"): c for c in ET.parse(path).getroot().iter("testcase")}
    assert cases["test_sample[mednli:s00]"].get("classname") == "tests_clinical.test_mednli"
    assert cases["test_sample[mednli:s00]"].find("failure") is not None
    assert cases["compare mednli.accuracy noninferior 0.2"].find("failure") is not None
    assert cases["verdict"].find("failure").get("message").startswith("verdict FAIL")
    props = {p.get("name"): p.get("value") for p in ET.parse(path).getroot().iter("property")}
    assert props["clue.verdict"] == "fail"
    word = {c.nodeid: c.outcome for c in gate_cases(build_report(records(set()), facts(gates=(), compare_gates=())))}
    assert word == {"clue.gates::verdict": "skipped"}  # no gate at all: nothing to decide


def test_the_folder_is_written_from_the_report_alone(tmp_path):
    report = against_base({3}, {4})
    paths = write_folder(tmp_path, report)
    assert [p.name for p in paths[:3]] == ["clue-report.json", "clue-report.md", "index.html"]
    written = json.loads((tmp_path / "clue-report.json").read_text())
    hashes = {k: written["manifest"].pop(k) for k in list(written["manifest"]) if k.startswith("predictions.sha256.")}
    assert written == report.as_dict()  # and each prediction file's sha256, which merge and compare check:
    assert set(hashes) == {f"predictions.sha256.{p.name}" for p in (tmp_path / "predictions").glob("*.jsonl")}
    assert (tmp_path / "clue-report.md").read_text() == markdown(report)
    row = json.loads((tmp_path / "predictions" / "mednli.jsonl").read_text().splitlines()[4])
    assert row["baseline"]["outcome"] == "failed" and row["baseline"]["response"] == "base 4"
    assert "base 4" in (tmp_path / "index.html").read_text()


# -- the merge builds what one run builds ----------------------------------------------------------------


def shard_facts(k: int) -> RunFacts:
    return facts(run={**RUN, "shard": f"{k}/2"}, deferred=f"shard {k}/2: decided by the merge",
                 specs=tuple(replace(s, n_selected=10) for s in SPECS), requests={"sent": 20})


def test_shards_merged_give_the_unsharded_report_in_every_section(tmp_path):
    base = records({0, 1, 2, 3, 17}, model="base")
    (tmp_path / "base").mkdir()
    write_folder(tmp_path / "base", build_report(base, facts(compare_gates=())))
    new = records(set(range(5, 9)))
    baseline = BaselineFacts.of_report({"run": RUN, "manifest": MANIFEST}, base, source=str(tmp_path / "base"))
    baseline = replace(baseline, described={**baseline.described, "kind": "report folder"})
    whole = build_report(new, facts(), baseline=baseline)
    for k, half in ((1, [r for r in new if r.index % 2 == 0]), (2, [r for r in new if r.index % 2 == 1])):
        shard = build_report(half, shard_facts(k), baseline=baseline)
        assert shard.verdict.word == "deferred" and shard.comparison.compared
        write_folder(tmp_path / f"s{k}", shard)
    merged, paths = merge_mod.merge_folders(tmp_path / "merged", [tmp_path / "s1", tmp_path / "s2"],
                                            junit=tmp_path / "merged.xml")
    got, want = merged.report, whole
    assert [t.as_dict() for t in got.tasks] == [t.as_dict() for t in want.tasks]
    assert [lv.as_dict() for lv in got.levels] == [lv.as_dict() for lv in want.levels]
    assert [g.as_dict() for g in got.gates] == [g.as_dict() for g in want.gates]
    assert got.comparison.section["tasks"] == want.comparison.section["tasks"]
    assert got.comparison.section["levels"] == want.comparison.section["levels"]
    assert [g.as_dict() for g in got.comparison.gates] == [g.as_dict() for g in want.comparison.gates]
    assert got.verdict == want.verdict and got.performance is not None and "store" in got.as_dict()
    assert got.requests["sent"] == 40 and paths[-1].name == "merged.xml"
    assert {c.get("name") for c in ET.parse(tmp_path / "merged.xml").getroot().iter("testcase")} >= {
        "verdict", "compare mednli.accuracy noninferior 0.2", "test_sample[mednli:s00]"}


def test_the_documented_verdicts_and_exit_codes_are_the_decided_ones():
    from clue_checks.report.verdict import VERDICTS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "report.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip().strip("`"): line.split("|")[3].strip() for line in doc.splitlines()
            if line.startswith("| `") and line.count("|") == 4}
    assert set(rows) == set(VERDICTS)
    for word, code in rows.items():
        assert code.strip("*").startswith(str(exit_code(Verdict(word)))), word


def test_a_tasks_declared_kinds_are_counted_with_zeros_and_the_rest_from_the_kinds_table():
    followup = tuple(SampleRecord("followup", f"f{i}", i, "failed", metrics={"accuracy": 0.0}, response="maybe",
                                  reference="yes", kinds=("wrong_answer",) if i else ("format",)) for i in range(4))
    specs = (*SPECS, TaskSpec("followup", "Follow-up", None, ("accuracy",), n_total=4,
                              kinds=("empty", "format", "hedged", "wrong_answer")))
    report = build_report(records(set()) + list(followup), facts(specs=specs))
    assert dict(report.kinds["followup"]) == {"empty": 0, "format": 1, "hedged": 0, "wrong_answer": 3}
    assert tuple(report.kinds["mednli"]) == kinds_of_task("mednli")  # a CLUE task: the kinds table's entry
    check_schema(report)
