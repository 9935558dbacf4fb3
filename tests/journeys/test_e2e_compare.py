"""End-to-end: a run compared with its baseline, as a release team runs it (in this process; xdist in its own).

The base model is the embedded baseline, the "fine-tune" its `finetune-degraded` variant, each served on a
free loopback port and stopped however the test ends. Few runs, on a few tasks, for speed.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from clue_command import clue

from fakes import copy_suite
from planted import planted_samples

from clue_checks.server import BaselineServer
from clue_checks.server.variants import FINETUNE_DEGRADED

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "clue_checks" / "fixtures"
# MedNLI (McNemar, by sample) and LongHealth task 3 (sign-flip, by patient) are compared by the two methods and
# gated; LongHealth task 1 would be compared as task 3 is, for the cost of a run of it in every run here.
TASKS = "mednli,longhealth-t3"
FLOORS = """
[sample]
"meqsum.rougeL" = 0.10
"problemsummary.rougeL" = 0.10
"medisumqa.rougeL" = 0.10
"""  # the shipped thresholds.toml's: floors decide which samples pass, so runs compared must share them
COMPARE_THRESHOLDS = FLOORS + """
[gate]
"mednli.accuracy" = "lower95 >= 0.10"
[compare]
"mednli.accuracy" = "noninferior 0.02"
"longhealth-t3.accuracy" = "no regression"
"""

pytest_plugins = ["pytester"]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    copy_suite(pytester.path)
    (pytester.path / "compare.toml").write_text(COMPARE_THRESHOLDS)
    (pytester.path / "same.toml").write_text(FLOORS + '[compare]\n"mednli.accuracy" = "no regression"\n'
                                             '"meqsum.rougeL" = "no regression"\n"medisumqa.rougeL" = "no regression"\n')
    (pytester.path / "conftest.py").write_text("")
    return pytester


@pytest.fixture
def servers():
    """The base model and the degraded "fine-tune", each on a free port."""
    with BaselineServer(port=0) as base, BaselineServer(port=0, variant=FINETUNE_DEGRADED) as tuned:
        yield base, tuned


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    if "-n" in args:  # xdist's workers are processes
        return suite.runpytest_subprocess(f"--clue-data={FIXTURES}", "-p", "no:randomly", "--tb=line", *args,
                                          timeout=300)
    return suite.runpytest_inprocess(f"--clue-data={FIXTURES}", "-p", "no:randomly", "--tb=line", *args)


def report(suite: pytest.Pytester, folder: str = "clue-report") -> dict:
    return json.loads((suite.path / folder / "clue-report.json").read_text())


def generations(server: BaselineServer) -> int:
    return sum(n for route, n in server.request_counts.items() if route in ("/generate", "/", "/v1/chat/completions"))


def test_a_finetune_against_its_base_model(suite, servers):
    """The judged journey: base run into a folder, the fine-tune against it, the regressions found where
    they were planted, a non-inferiority gate failing the release, `clue compare`, and the broken samples
    rerun alone from the store."""
    base, tuned = servers
    first = run(suite, f"--model-endpoint={base.url}", f"--clue-tasks={TASKS}", "--clue-report-dir=base-report")
    assert first.ret == 1, first.stdout.str()  # failing samples, plain pytest exit
    assert "comparison" not in report(suite, "base-report")

    second = run(suite, f"--model-endpoint={tuned.url}", f"--clue-tasks={TASKS}", "--clue-baseline=base-report",
                 "--clue-thresholds=compare.toml", "--clue-exit=gates", "--junitxml=junit.xml")
    assert second.ret == 1, second.stdout.str()  # gate mode: the comparison gates fail the release
    second.stdout.fnmatch_lines(["against the baseline clue-checks/parameterless-baseline (*base-report)*",
                                 "MedNLI*accuracy*0.422*0.289*-0.133 [[]*]*",
                                 "compare gate FAIL*mednli.accuracy noninferior 0.02*one-sided 95% lower bound*",
                                 "compare gate INCONCLUSIVE*longhealth-t3.accuracy no regression*3 of 4 patients differ*"
                                 "cannot be ruled out*"])
    data = report(suite)
    comparison = data["comparison"]
    assert comparison["complete"] and not comparison["forced"]
    tasks = comparison["tasks"]
    mednli, lh3 = tasks["mednli"], tasks["longhealth-t3"]
    assert mednli["difference"] < 0 and mednli["ci95"][1] < 0 and mednli["p_value"] == 2 / 64  # 6 broke, exact
    assert "McNemar" in mednli["method"] and "sign-flip" in lh3["method"]
    # the fixtures' LongHealth has 4 patients: 3 of them differ, so no test could reject; the exact p and no interval
    assert lh3["unit"] == "patient" and lh3["differing"] == 3 and lh3["p_value"] == 0.25 and lh3["ci95"] == [None, None]
    assert lh3["seed"] == 20240411 and lh3["resamples"] is None

    # broke = exactly the planted samples the base model had right
    planted = planted_samples(FINETUNE_DEGRADED, FIXTURES, tasks=TASKS.split(","))
    rows = {task: [json.loads(line) for line in (suite.path / "clue-report" / "predictions" / f"{task}.jsonl")
                   .read_text().splitlines()] for task in TASKS.split(",")}
    for task in TASKS.split(","):
        base_passed = {r["sample_id"] for r in rows[task] if r["baseline"]["outcome"] == "passed"}
        expected = {k.split(":", 1)[1] for k in planted if k.startswith(task + ":")} & base_passed
        assert set(tasks[task]["broke"]) == expected and expected, task
        assert tasks[task]["fixed"] == []
    broken_row = next(r for r in rows["mednli"] if r["sample_id"] == tasks["mednli"]["broke"][0])
    assert broken_row["outcome"] == "failed" and broken_row["baseline"]["outcome"] == "passed"
    assert broken_row["baseline"]["metrics"] == {"accuracy": 1.0} and broken_row["baseline"]["response"]

    gates = {g["gate"]: g["status"] for g in comparison["gates"]}
    assert gates == {"mednli.accuracy noninferior 0.02": "fail", "longhealth-t3.accuracy no regression": "inconclusive"}
    cases = {c.get("name"): c for c in ET.parse(suite.path / "junit.xml").iter("testcase")
             if c.get("classname") == "clue.gates"}
    assert cases["compare mednli.accuracy noninferior 0.02"].find("failure") is not None
    assert cases["compare longhealth-t3.accuracy no regression"].find("failure") is not None  # never a pass
    md = (suite.path / "clue-report" / "clue-report.md").read_text()
    assert "## Against the baseline" in md and "| MedNLI | accuracy | 0.422 | 0.289 |" in md

    # a failing sample's message shows the baseline's answer beside the new one
    second.stdout.no_fnmatch_line("*Traceback*")
    one = run(suite, f"--model-endpoint={tuned.url}", "--clue-baseline=base-report", "--clue-report-dir=one",
              f"tests_clinical/test_mednli.py::test_sample[mednli:{tasks['mednli']['broke'][0]}]", "--tb=long")
    one.stdout.fnmatch_lines(["baseline passed: *", "baseline metrics: accuracy=1", "baseline response: *"])

    # clue compare: the headline table with differences and intervals
    compared = clue("compare", "base-report", "clue-report", "--no-plot", cwd=suite.path)
    assert compared.returncode == 0, compared.stderr
    assert "MedNLI" in compared.stdout and "−0.133" in compared.stdout

    # --clue-select=broke: exactly the broken samples, answered from the store
    sent_before = generations(tuned)
    of_record = (suite.path / "clue-report" / "clue-report.json").read_bytes()
    expected_ids = {f"{t}:{i}" for t in tasks for i in tasks[t]["broke"]}
    for _ in range(2):  # the second selection selects from the report of record again, not from the first's
        rerun = run(suite, f"--model-endpoint={tuned.url}", f"--clue-tasks={TASKS}", "--clue-select=broke")
        # the node id alone: a wide terminal appends " - <message>" to each line, and messages hold brackets
        ran = {line.split()[1].split("[", 1)[1][:-1] for line in rerun.stdout.lines
               if line.startswith("FAILED ") or line.startswith("PASSED ")}
        assert ran == expected_ids
        assert rerun.parseoutcomes().get("failed") == len(expected_ids)
        # written beside the report of record, which stays as it was
        assert report(suite, "clue-report/selection")["requests"]["sent"] == 0 and generations(tuned) == sent_before
        assert (suite.path / "clue-report" / "clue-report.json").read_bytes() == of_record


def test_identical_runs_show_no_regression_and_every_difference_is_zero(suite, servers):
    base, _ = servers
    assert run(suite, f"--model-endpoint={base.url}", "--clue-tasks=mednli,meqsum", "--clue-report-dir=base-report").ret == 1
    again = run(suite, f"--model-endpoint={base.url}", "--clue-tasks=mednli,meqsum", "--clue-baseline=base-report",
                "--clue-thresholds=same.toml", "--clue-no-cache")
    comparison = report(suite)["comparison"]
    for entry in comparison["tasks"].values():
        assert entry["difference"] == 0 and entry["broke"] == [] and entry["fixed"] == []
        assert entry["p_value"] == 1.0
    assert [g["status"] for g in comparison["gates"]] == ["inconclusive", "inconclusive", "not run"]
    # 45 identical pairs cannot rule out a 2-point drop (Tango's bound with no discordant pair is -0.057), nor
    # can 23 identical summaries: the no-regression gates are inconclusive, never a pass on absence of evidence;
    # a gate whose task did not run in both runs is not run.
    again.stdout.fnmatch_lines(["compare gate INCONCLUSIVE*mednli.accuracy no regression*0 of 45 pairs differ*",
                                "compare gate NOT RUN*medisumqa.rougeL no regression*"])


def test_mismatched_manifests_are_refused_before_any_request(suite, servers):
    base, tuned = servers
    assert run(suite, f"--model-endpoint={base.url}", "--clue-tasks=mednli", "--clue-report-dir=base-report").ret == 1
    sent = generations(tuned)
    refused = run(suite, f"--model-endpoint={tuned.url}", "--clue-tasks=mednli", "--clue-baseline=base-report",
                  "--clue-profile=head")
    assert refused.ret == 2
    refused.stdout.fnmatch_lines(["*this run and *base-report are not comparable (1 difference*",
                                  "*- profile: 'head' / 'paper'", "*--clue-baseline-force*"])
    assert generations(tuned) == sent  # refused before inference
    forced = run(suite, f"--model-endpoint={tuned.url}", "--clue-tasks=mednli", "--clue-baseline=base-report",
                 "--clue-profile=head", "--clue-baseline-force")
    assert forced.ret == 1
    assert report(suite)["comparison"]["forced"] is True


@pytest.mark.slow
def test_a_baseline_endpoint_answers_in_the_same_session_each_request_once(suite, servers):
    base, tuned = servers
    result = run(suite, f"--model-endpoint={tuned.url}", f"--clue-baseline-endpoint={base.url}", "--clue-tasks=mednli",
                 "-n", "2")
    assert result.ret == 1, result.stdout.str()
    assert generations(base) == 45 and generations(tuned) == 45  # each sent once, under xdist too
    data = report(suite)
    comparison = data["comparison"]
    assert comparison["baseline"]["requests"]["sent"] == 45 and data["requests"]["sent"] == 45
    planted = {k.split(":", 1)[1] for k in planted_samples(FINETUNE_DEGRADED, FIXTURES, tasks=["mednli"])}
    assert comparison["tasks"]["mednli"]["broke"] and set(comparison["tasks"]["mednli"]["broke"]) <= planted
    assert comparison["tasks"]["mednli"]["difference"] == pytest.approx(-0.1333, abs=1e-3)


def the_verdict_parts(data: dict) -> dict:
    """What a sharded run must agree on with the unsharded one: tasks (less request counts), levels, comparison
    (less the baseline endpoint's request counts), gates and verdict."""
    tasks = {name: {k: v for k, v in t.items() if k != "requests"} for name, t in data["tasks"].items()}
    comparison = dict(data["comparison"])
    comparison["baseline"] = {k: v for k, v in comparison["baseline"].items() if k != "requests"}
    return {"tasks": tasks, "levels": data["levels"], "comparison": comparison, "gates": data["gates"],
            "verdict": data["verdict"], "verdict_reasons": data["verdict_reasons"]}


@pytest.mark.parametrize("against", ["folder", "endpoint"])
def test_shards_compared_with_a_baseline_merge_into_the_unsharded_runs_report(suite, servers, against):
    """`pytest --clue-shard=1/2` and `2/2`, each against the baseline, then `clue report merge`: the merged report
    is the unsharded run's in tasks, levels, comparison, gates and verdict, its JUnit file has the gates and the
    verdict, and the merge exits with the verdict."""
    base, tuned = servers
    if against == "folder":
        assert run(suite, f"--model-endpoint={base.url}", f"--clue-tasks={TASKS}", "--clue-report-dir=base-report").ret == 1
        baseline = "--clue-baseline=base-report"
    else:
        baseline = f"--clue-baseline-endpoint={base.url}"
    args = (f"--model-endpoint={tuned.url}", f"--clue-tasks={TASKS}", baseline, "--clue-thresholds=compare.toml",
            "--clue-exit=gates")
    whole = run(suite, *args, "--clue-report-dir=whole", "--junitxml=whole.xml")
    assert whole.ret == 1, whole.stdout.str()  # the planted regressions fail the comparison gates
    for k in (1, 2):
        shard = run(suite, *args, f"--clue-shard={k}/2", f"--clue-report-dir=s{k}")
        assert shard.ret == 0, shard.stdout.str()  # gate mode: a shard leaves the verdict to the merge
    merged = clue("report", "merge", "merged", "s1", "s2", "--junitxml=merged.xml", cwd=suite.path)
    assert merged.returncode == whole.ret == 1, merged.stderr
    assert "verdict FAIL" in merged.stdout
    want, got = report(suite, "whole"), report(suite, "merged")
    assert want["comparison"]["complete"] and want["verdict"] == "fail"
    assert the_verdict_parts(got) == the_verdict_parts(want)
    assert got["performance"] and "store" in got

    def gates(path: str) -> dict:
        return {c.get("name"): [e.tag for e in c] for c in ET.parse(suite.path / path).iter("testcase")
                if c.get("classname") == "clue.gates"}

    assert gates("merged.xml") == gates("whole.xml")
    assert gates("merged.xml")["verdict"] == ["failure"]
    samples = {c.get("name") for c in ET.parse(suite.path / "merged.xml").iter("testcase")
               if c.get("classname") != "clue.gates"}
    assert len(samples) == sum(t["n_samples"] for t in want["tasks"].values())
