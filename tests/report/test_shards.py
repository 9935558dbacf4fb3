"""--clue-shard=K/N and `clue report merge`: shards merged give the unsharded run's report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import clue_command
import pytest

from clue_checks.report.manifest import run_specific
from clue_checks.server import BaselineServer
from fakes import copy_suite

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "clue_checks" / "fixtures"  # the bundled synthetic data
TASKS = "--clue-tasks=mednli,medisumqa,longhealth-t1"  # medisumqa and LongHealth have clusters; LongHealth shares requests

pytest_plugins = ["pytester"]


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    copy_suite(pytester.path)
    return pytester


@pytest.fixture(scope="module")
def baseline():
    with BaselineServer(host="127.0.0.1", port=0) as server:
        yield server


def run(suite: pytest.Pytester, *args: str) -> pytest.RunResult:
    return suite.runpytest_inprocess(f"--clue-data={FIXTURES}", "-p", "no:randomly", "-q", "--tb=no", *args)


def clue(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return clue_command.clue(*args, cwd=cwd)


def comparable(folder: Path) -> tuple[dict, dict[str, list[dict]], list[str]]:
    """Report, prediction rows and Markdown without timestamps, request counts and the command line."""
    data = json.loads((folder / "clue-report.json").read_text())
    data["run"].pop("finished")
    data.pop("requests")
    data.pop("performance", None)  # how the run went (timing, concurrency): the shards' own, summed by a merge
    data.pop("store", None)
    for key in [k for k in data["manifest"] if run_specific(k)]:
        data["manifest"].pop(key)
    for task in data["tasks"].values():
        task.pop("requests")
    rows = {}
    for path in sorted((folder / "predictions").glob("*.jsonl")):
        rows[path.stem] = [{k: v for k, v in json.loads(line).items() if k not in ("latency_s", "source")}
                           for line in path.read_text().splitlines()]
    md = [line.rsplit("|", 2)[0] if line.startswith("| ") and line.count("|") == 8 else line  # sent/stored/shared
          for line in (folder / "clue-report.md").read_text().splitlines()
          if not line.startswith(("- requests sent", "| `run.", "| `command`"))]
    if "## Run statistics" in md:  # the run's own statistics close the Markdown (timings differ)
        md = md[:md.index("## Run statistics") - 1]
    return data, rows, md


def test_two_shards_merged_give_the_unsharded_report_and_its_verdict(suite, baseline):
    args = (f"--model-endpoint={baseline.url}", TASKS, "--clue-exit=gates")
    whole = run(suite, *args, "--clue-cache=c0", "--clue-report-dir=whole")
    one = run(suite, *args, "--clue-shard=1/2", "--clue-cache=c1", "--clue-report-dir=s1", "--junitxml=s1.xml")
    two = run(suite, *args, "--clue-shard=2/2", "--clue-cache=c2", "--clue-report-dir=s2")
    assert one.ret == two.ret == 0  # gate mode: a shard leaves the verdict to the merge
    shard = json.loads((suite.path / "s1" / "clue-report.json").read_text())
    assert shard["verdict"] == "deferred" and {g["status"] for g in shard["gates"]} == {"deferred", "not selected"}
    assert shard["run"]["shard"] == "1/2" and "--clue-shard" not in shard["manifest"]["command"]
    rows = {p.stem: [json.loads(line) for line in p.read_text().splitlines()]
            for p in (suite.path / "s1").glob("predictions/*.jsonl")}
    others = {p.stem: [json.loads(line) for line in p.read_text().splitlines()]
              for p in (suite.path / "s2").glob("predictions/*.jsonl")}
    for task in ("medisumqa", "longhealth-t1"):  # a cluster never spans two shards
        assert not {r["cluster"] for r in rows[task]} & {r["cluster"] for r in others[task]}
        assert abs(len(rows[task]) - len(others[task])) <= max(len(rows[task]), len(others[task])) // 2

    merged = clue(suite.path, "report", "merge", "merged", "s1", "s2", "--clue-thresholds=thresholds.toml")
    assert merged.returncode == whole.ret == 0, merged.stderr
    assert "verdict PASS" in merged.stdout
    full, full_rows, full_md = comparable(suite.path / "whole")
    got, got_rows, got_md = comparable(suite.path / "merged")
    assert got == full
    assert got_rows == full_rows
    assert got_md == full_md
    assert (suite.path / "merged" / "index.html").is_file()  # the merged report's page, built like a run's
    merged_report = json.loads((suite.path / "merged" / "clue-report.json").read_text())
    assert merged_report["performance"]["latency"].keys() == {"mednli", "medisumqa", "longhealth-t1"}
    assert "store" in merged_report
    sent = sum(json.loads((suite.path / d / "clue-report.json").read_text())["requests"]["sent"] for d in ("s1", "s2"))
    assert json.loads((suite.path / "merged" / "clue-report.json").read_text())["requests"]["sent"] == sent


def test_a_merge_refuses_missing_repeated_or_foreign_shards(suite, baseline):
    base = (f"--model-endpoint={baseline.url}", "--clue-tasks=mednli", "--clue-cache=c")
    run(suite, *base, "--clue-shard=1/2", "--clue-report-dir=s1")
    run(suite, *base, "--clue-shard=2/2", "--clue-report-dir=s2")
    run(suite, *base, "--clue-shard=2/2", "--clue-report-dir=other", "--clue-limit=10")
    missing = clue(suite.path, "report", "merge", "m", "s1")
    assert missing.returncode == 2 and "missing shard(s) 2/2" in missing.stderr
    twice = clue(suite.path, "report", "merge", "m", "s1", "s2", "s2")
    assert twice.returncode == 2 and "given twice" in twice.stderr
    foreign = clue(suite.path, "report", "merge", "m", "s1", "other")
    assert foreign.returncode == 2 and "not shards of one run" in foreign.stderr and "run.limit" in foreign.stderr
    into_input = clue(suite.path, "report", "merge", "s1", "s1", "s2")
    assert into_input.returncode == 2 and "a folder of its own" in into_input.stderr
    nothing = clue(suite.path, "report", "merge", "m", "no-such-folder")
    assert nothing.returncode == 2 and "no-such-folder/clue-report.json: not found" in nothing.stderr
    assert not (suite.path / "m").exists()


def test_a_merge_refuses_forged_prediction_rows_and_marks_a_forced_merge(suite, baseline):
    base = (f"--model-endpoint={baseline.url}", "--clue-tasks=mednli", "--clue-cache=c")
    run(suite, *base, "--clue-shard=1/2", "--clue-report-dir=s1")
    run(suite, *base, "--clue-shard=2/2", "--clue-report-dir=s2")
    forged = suite.path / "s2" / "predictions" / "mednli.jsonl"
    rows = [json.loads(line) for line in forged.read_text().splitlines()]
    forged.write_text("".join(json.dumps({**r, "outcome": "passed", "accuracy": 1, "metrics": {"accuracy": 1}}) + "\n"
                              for r in rows))
    refused = clue(suite.path, "report", "merge", "m", "s1", "s2")
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert f"{Path('s2') / 'predictions' / 'mednli.jsonl'} was changed after the run wrote it" in refused.stderr
    assert not (suite.path / "m").exists()
    forced = clue(suite.path, "report", "merge", "m", "s1", "s2", "--force")
    assert forced.returncode == 0 and "forced past an integrity check" in forced.stdout
    merged = json.loads((suite.path / "m" / "clue-report.json").read_text())
    assert "mednli.jsonl" in merged["run"]["integrity_forced"][0]
    again = clue(suite.path, "report", "merge", "m2", "m")  # the forced merge's own files verify again
    assert "was changed" not in again.stderr


def test_merging_with_a_stricter_thresholds_file_exits_with_its_verdict(suite, baseline):
    base = (f"--model-endpoint={baseline.url}", "--clue-tasks=mednli", "--clue-cache=c")
    run(suite, *base, "--clue-shard=1/2", "--clue-report-dir=s1")
    run(suite, *base, "--clue-shard=2/2", "--clue-report-dir=s2")
    (suite.path / "strict.toml").write_text('[gate]\n"mednli.accuracy" = ">= 0.99"\n')
    strict = clue(suite.path, "report", "merge", "m", "s1", "s2", "--clue-thresholds=strict.toml")
    assert strict.returncode == 1 and "verdict FAIL" in strict.stdout
    data = json.loads((suite.path / "m" / "clue-report.json").read_text())
    assert [g["status"] for g in data["gates"]] == ["fail"]
    assert data["manifest"]["thresholds.source"].endswith("strict.toml")
    plain = clue(suite.path, "report", "merge", "m2", "s1", "s2")  # the shards' own thresholds; exit: the verdict
    assert plain.returncode == 0
    assert json.loads((suite.path / "m2" / "clue-report.json").read_text())["verdict"] == "pass"


def test_batched_values_the_shards_computed_are_carried_when_they_cannot_be_recomputed(tmp_path, monkeypatch):
    from clue_checks.metrics import BatchedValues
    from clue_checks.record import SampleRecord
    from clue_checks.report.merge import ShardReport, merge
    from clue_checks.tasks.meqsum import MeQSum

    monkeypatch.setattr(MeQSum, "batch_score", lambda self, pairs: {
        name: BatchedValues(not_computed="bert-score is not installed") for name in self.batched_metrics})
    values = {"bertscore_p": 0.5, "bertscore_r": 0.5}

    def shard(k, indexes):
        records = [SampleRecord("meqsum", f"s{i}", i, "passed",
                                metrics={"rougeL": 0.2, **values, "bertscore_f1": i / 10}) for i in indexes]
        report = {"run": {"profile": "paper", "shard": f"{k}/2", "tasks": None, "server_kind": "clue-baseline",
                          "seeds": {"shots": 1, "longhealth": 1, "bootstrap": 1, "bootstrap_resamples": 1000}},
                  "manifest": {"thresholds.content": '[gate]\n"meqsum.bertscore_f1" = ">= 0.1"\n',
                               "thresholds.source": "t.toml"},
                  "tasks": {"meqsum": {"n_selected": len(records), "n_total": 4, "n_samples": len(records)}},
                  "requests": {"sent": len(records)}}
        return ShardReport(tmp_path / f"s{k}", report, {"meqsum": records})

    merged = merge([shard(1, [0, 2]), shard(2, [1, 3])])
    metric = merged.report.tasks[0].metric("bertscore_f1")
    assert metric.value == pytest.approx(0.15) and metric.n == 4
    assert merged.report.gates[0].status == "pass"
    assert merged.report.run["merge_notes"][0].startswith("meqsum.bertscore_p: the values the shards computed")


def test_bertscore_is_recomputed_over_the_merged_samples_as_one_run_computes_it(tiny_bert, suite, baseline):
    args = (f"--model-endpoint={baseline.url}", "--clue-tasks=meqsum", f"--clue-bertscore-model={tiny_bert}", "--clue-bertscore-layers=2",
            "--clue-cache=c")
    run(suite, *args, "--clue-report-dir=whole")
    run(suite, *args, "--clue-shard=1/2", "--clue-report-dir=s1")
    run(suite, *args, "--clue-shard=2/2", "--clue-report-dir=s2")
    merged = clue(suite.path, "report", "merge", "merged", "s1", "s2")
    assert merged.returncode == 0, merged.stderr
    full, full_rows, _ = comparable(suite.path / "whole")
    got, got_rows, _ = comparable(suite.path / "merged")
    assert full["tasks"]["meqsum"]["metrics"]["bertscore_f1"]["value"] is not None
    assert got == full and got_rows == full_rows
    assert "merge_notes" not in got["run"]  # recomputed, not carried
