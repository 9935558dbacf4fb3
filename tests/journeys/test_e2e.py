"""End-to-end: the real suite (tests_clinical/) run by pytester against the embedded server and fakes.

Each run has its own store and report folder. Runs happen in this process (`run`) unless the new process
is what is tested: xdist's workers, signals (`run_as_user` or a process started here, marked slow).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from fakes import FakeServer, free_port_url
from suite_runs import FIXTURES, chat_server, ok, report, run, run_as_user, suite  # noqa: F401

from clue_checks.private_folder import PREFIX, sweep
from clue_checks.server import BaselineServer

pytest_plugins = ["pytester"]


def comparable(data: dict, *, requests: bool = False) -> dict:
    """A report without what legitimately differs between runs: the time and the command line (and the
    sent/stored counts)."""
    from clue_checks.report.manifest import run_specific

    data = json.loads(json.dumps(data))
    data["run"].pop("finished")
    data.pop("performance", None)  # durations, rates and latencies: timing
    if data.get("store"):
        data["store"].pop("path")  # each run its own --clue-cache
    for key in [k for k in data["manifest"] if run_specific(k)]:
        data["manifest"].pop(key)
    if not requests:
        data.pop("requests")
        for task in data["tasks"].values():
            task.pop("requests")
    return data


@pytest.fixture
def baseline():
    with BaselineServer(host="127.0.0.1", port=0) as server:  # stopped however the test ends
        yield server


def generation_requests(server: BaselineServer) -> int:
    return sum(n for route, n in server.request_counts.items() if route in ("/generate", "/", "/v1/chat/completions"))


def test_default_run_prints_and_writes_the_report(suite):
    result = run(suite, "--clue-tasks=mednli,meqsum")
    result.stdout.fnmatch_lines(["*CLUE report*", "MedNLI*accuracy*", "MeQSum*rouge1*", "*rougeL*", "requests sent: *"])
    data = report(suite)
    assert set(data["tasks"]) == {"mednli", "meqsum"}
    mednli = data["tasks"]["mednli"]
    assert mednli["n_samples"] == mednli["n_passed"] + mednli["n_failed"] + mednli["n_errored"] > 0
    assert data["run"]["server_kind"] == "clue-baseline" and data["run"]["api"] == "generate"
    assert (suite.path / "clue-report" / "clue-report.md").read_text().startswith("# CLUE report")
    assert result.ret == (1 if mednli["n_failed"] or data["tasks"]["meqsum"]["n_failed"] else 0)


def test_second_run_sends_zero_requests(suite, baseline):
    args = (f"--model-endpoint={baseline.url}", "--clue-tasks=mednli,meqsum")
    run(suite, *args)
    first = generation_requests(baseline)
    assert first > 0 and report(suite)["requests"] == {"sent": first, "failed": 0, "from_store": 0, "shared": 0}
    run(suite, *args)
    assert generation_requests(baseline) == first
    assert report(suite)["requests"] == {"sent": 0, "failed": 0, "from_store": first, "shared": 0}


@pytest.mark.slow
def test_xdist_gives_the_same_report_and_sends_each_request_once(suite, baseline):
    # LongHealth task 1 has repeats of one question whose prompts coincide: still sent once under -n 2. Thirty
    # samples a task hold such repeats (the `shared` check below) at a quarter of task 1's cost.
    args = (f"--model-endpoint={baseline.url}", "--clue-tasks=mednli,meqsum,longhealth-t1", "--clue-limit=30")
    run(suite, *args, "-n", "0", "--clue-cache=c0", "--clue-report-dir=r0")
    single = generation_requests(baseline)
    result = run_as_user(suite, *args, "-n", "2", "--clue-cache=c2", "--clue-report-dir=r2")
    assert generation_requests(baseline) == 2 * single  # the second run sent each request exactly once
    assert report(suite, "r0")["requests"]["shared"] > 0  # the case above really occurs in the fixtures
    assert comparable(report(suite, "r0"), requests=True) == comparable(report(suite, "r2"), requests=True)
    result.stdout.fnmatch_lines(["*CLUE report*"])


def test_last_failed_sends_no_request(suite, baseline):
    args = (f"--model-endpoint={baseline.url}", "--clue-tasks=mednli")
    first = run(suite, *args)
    failed = first.parseoutcomes().get("failed", 0)
    assert failed > 0, "the baseline should fail some MedNLI samples on the fixtures"
    sent = generation_requests(baseline)
    again = run(suite, *args, "--lf")
    assert again.parseoutcomes().get("failed") == failed and "passed" not in again.parseoutcomes()
    assert generation_requests(baseline) == sent
    assert report(suite)["requests"]["sent"] == 0


def own_tmpdir(suite: pytest.Pytester) -> tuple[Path, dict[str, str]]:
    """A temporary directory of the child's own (TMPDIR), where its private folders can be looked at."""
    tmp = suite.path / "child-tmp"
    tmp.mkdir(exist_ok=True)
    return tmp, {**os.environ, "TMPDIR": str(tmp)}


def stop_midway(suite: pytest.Pytester, server: BaselineServer, signum: int, env: dict[str, str]) -> None:
    """Run MedNLI two requests at a time against `server` and send `signum` once six are answered and a sample
    test has spooled its texts (on a busy machine the answers can come before the first test runs)."""
    args = [sys.executable, "-m", "pytest", f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-concurrency=2",
            f"--clue-data={FIXTURES}", "-q"]
    proc = subprocess.Popen(args, cwd=suite.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    spools = Path(env["TMPDIR"]).glob
    deadline = time.monotonic() + 60
    while (generation_requests(server) < 6 or not any(p.stat().st_size for p in spools(f"{PREFIX}*/main.texts"))) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signum)
    proc.wait(60)


@pytest.mark.slow
def test_killed_run_resumes_with_only_the_missing_requests(suite):
    server = BaselineServer(host="127.0.0.1", port=0, latency_s=0.25)
    url = server.start()
    try:
        tmp, env = own_tmpdir(suite)
        stop_midway(suite, server, signal.SIGKILL, env)
        answered_before_kill = generation_requests(server)
        assert 0 < answered_before_kill
        # The killed run could not remove its spool of clinical text; its lock died with it, so the next run's
        # sweep removes it.
        left = list(tmp.glob(f"{PREFIX}*"))
        assert len(left) == 1 and (left[0] / "main.texts").stat().st_size > 0
        assert sweep(tmp) == left and not left[0].exists()
        server.latency_s = 0.0  # the latency only had to hold requests in flight until the kill
        result = run(suite, f"--model-endpoint={url}", "--clue-tasks=mednli", "--clue-concurrency=2")
        data = report(suite)
        total = data["tasks"]["mednli"]["n_samples"]
        stored = data["requests"]["from_store"]
        assert stored >= answered_before_kill - 2  # at most the requests in flight at the kill were lost
        assert data["requests"]["sent"] == total - stored
        assert generation_requests(server) == answered_before_kill + data["requests"]["sent"]
        assert result.ret in (0, 1)
    finally:
        server.stop()


def with_ctrl_c() -> None:
    """In the child before exec: SIGINT raises KeyboardInterrupt, as in a terminal (background jobs and
    some test runners' workers start with SIGINT ignored, which the child would inherit)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_an_interrupted_run_reports_the_requests_it_really_sent(suite):
    # Six answers, then the server hangs: Ctrl-C lands mid-run whatever the machine's speed.
    release = threading.Event()
    answered = iter(range(1, 1000))  # chat requests only (`count` also counts /health and discovery)

    def answer(body, count):
        if next(answered) > 6:
            release.wait(30)
        return ok("neutral")

    tmp, env = own_tmpdir(suite)
    with FakeServer(chat_server(answer)) as server:
        try:
            args = [sys.executable, "-m", "pytest", f"--model-endpoint={server.url}", "--clue-tasks=mednli",
                    "--clue-concurrency=2", f"--clue-data={FIXTURES}", "-q"]
            proc = subprocess.Popen(args, cwd=suite.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    preexec_fn=with_ctrl_c, env=env)
            deadline = time.monotonic() + 60
            while server.count("/v1/chat/completions") < 8 and time.monotonic() < deadline:
                time.sleep(0.05)  # six answered, two hanging
            time.sleep(0.5)  # the sixth answer is stored
            proc.send_signal(signal.SIGINT)  # Ctrl-C: pytest still writes the report of what ran
            proc.wait(60)
        finally:
            release.set()
    data = report(suite)
    assert not list(tmp.glob(f"{PREFIX}*")), "an interrupted run removes its own spool of clinical text"
    assert data["requests"] == {"sent": 6, "failed": 0, "from_store": 0, "shared": 0}  # as answered, not consumed
    assert data["tasks"]["mednli"]["n_missing"] > 0 and data["tasks"]["mednli"]["partial"]


def test_unreachable_endpoint_is_one_clear_error_after_a_few_connection_attempts(suite):
    from clue_checks.endpoint.discovery import CONNECT_ATTEMPTS

    url = free_port_url()
    stale = suite.path / "clue-report" / "clue-report.json"
    stale.parent.mkdir()
    stale.write_text("{}")  # an earlier run's report
    result = run(suite, f"--model-endpoint={url}")
    assert not stale.exists()  # never taken for this run's results
    assert result.ret == 2
    output = result.stdout.str() + result.stderr.str()
    assert f"Could not connect (connection refused; {CONNECT_ATTEMPTS} attempts)" in output  # gives up, no endless retry
    assert url in output and "--model-endpoint" in output
    assert "passed" not in output and "failed" not in output.replace("failed after", "")


def test_429_then_200_is_retried_transparently(suite):
    calls = {"n": 0}

    def answer(body, count):
        calls["n"] += 1
        if calls["n"] % 2:  # every other request is refused once
            return 429, {"Retry-After": "0"}, {"error": "Model is overloaded", "error_type": "overloaded"}
        return ok("neutral")

    # Two samples, one at a time: each is refused once (the client backs off at least 0.5 s whatever Retry-After says)
    with FakeServer(chat_server(answer)) as server:
        result = run(suite, f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-limit=2", "--clue-concurrency=1",
                     "--clue-no-cache")
    assert calls["n"] == 4  # two refused, two answered
    outcomes = result.parseoutcomes()
    assert "error" not in outcomes and outcomes.get("passed", 0) + outcomes.get("failed", 0) == 2
    assert report(suite)["tasks"]["mednli"]["n_errored"] == 0


def test_malformed_json_becomes_errored_samples_not_a_crash(suite):
    with FakeServer(chat_server(lambda body, count: (200, {"Content-Type": "application/json"}, b"{not json"))) as server:
        result = run(suite, f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-limit=3", "--clue-no-cache")
    assert result.parseoutcomes().get("errors") == 3
    result.stdout.fnmatch_lines(["*malformed*"])
    data = report(suite)
    assert data["tasks"]["mednli"]["n_errored"] == 3
    assert data["tasks"]["mednli"]["metrics"]["accuracy"]["value"] is None
    assert result.ret == 1


def test_a_server_refusing_the_system_role_is_named_and_merge_runs_the_suite(suite):
    def answer(body, count):
        if body["messages"][0]["role"] == "system":  # a Gemma-like template on vLLM
            return 400, {}, {"object": "error", "message": "System role not supported", "type": "BadRequestError",
                             "code": 400}
        return ok("neutral")

    with FakeServer(chat_server(answer)) as server:
        refused = run(suite, f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-limit=3", "--clue-no-cache")
        assert refused.parseoutcomes().get("errors") == 3
        refused.stdout.fnmatch_lines(["*System role not supported*--clue-system-role=merge*"])
        assert report(suite)["requests"] == {"sent": 0, "failed": 3, "from_store": 0, "shared": 0}
        merged = run(suite, f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-limit=3", "--clue-no-cache",
                     "--clue-system-role=merge")
    outcomes = merged.parseoutcomes()
    assert "errors" not in outcomes and outcomes.get("passed", 0) + outcomes.get("failed", 0) == 3
    assert report(suite)["run"]["system_role"] == "merge"


def by_workers(suite: pytest.Pytester, workers: str, *args: str) -> pytest.RunResult:
    """`-n 0` in this process; xdist's workers are processes of their own."""
    if workers == "0":
        return suite.runpytest_inprocess(*args, "-n", workers)
    return suite.runpytest_subprocess(*args, "-n", workers, timeout=300)


WORKERS = ["0", pytest.param("2", marks=pytest.mark.slow)]


@pytest.mark.parametrize("workers", WORKERS)
def test_bad_data_is_one_error_before_any_request(suite, baseline, tmp_path, workers):
    data = tmp_path / "data"
    shutil.copytree(FIXTURES, data)
    path = data / "MedNLI" / "mli_test_v1.jsonl"
    lines = path.read_text().splitlines()
    lines[4] = lines[4][:-5]
    path.write_text("\n".join(lines) + "\n")
    result = by_workers(suite, workers, f"--clue-data={data}", f"--model-endpoint={baseline.url}", "--clue-tasks=mednli,meqsum")
    result.stdout.fnmatch_lines(["*mli_test_v1.jsonl, line 5: malformed JSON*"])
    assert result.ret == 2
    assert generation_requests(baseline) == 0


@pytest.mark.parametrize("workers", WORKERS)
def test_a_missing_data_folder_is_one_message_before_any_request(suite, baseline, tmp_path, workers):
    missing = tmp_path / "no-such-folder"
    result = by_workers(suite, workers, f"--clue-data={missing}", f"--model-endpoint={baseline.url}")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 2
    assert f"data folder not found: {missing}" in output and "Traceback" not in output
    assert output.count("data folder not found") == 1  # once
    # and no traceback through pytest's internals (a warning's location line, in an in-process run, is not one)
    assert "Traceback" not in output and "INTERNALERROR" not in output
    assert not re.search(r"_pytest\S*\.py:\d+: in ", output)
    assert "collected" not in output  # stopped before collecting: not one error per task module
    assert generation_requests(baseline) == 0


def test_gate_mode_exit_code_reflects_gates_only(suite, baseline):
    (suite.path / "gates-pass.toml").write_text('[gate]\n"mednli.accuracy" = ">= 0.0"\n')
    (suite.path / "gates-fail.toml").write_text('[gate]\n"mednli.accuracy" = ">= 0.99"\n')
    args = (f"--model-endpoint={baseline.url}", "--clue-tasks=mednli", "--clue-exit=gates")
    passing = run(suite, *args, "--clue-thresholds=gates-pass.toml", "--junitxml=junit.xml")
    assert passing.ret == 0
    assert passing.parseoutcomes().get("failed", 0) > 0  # failing samples still show as failed
    junit = ET.parse(suite.path / "junit.xml").getroot()
    assert junit.find(".//testcase/failure") is not None
    # The gate is a testcase of its own (metrics are in each sample's system-out: xunit2 allows no
    # per-testcase properties, which this test used to look for).
    (gate,) = [t for t in junit.iter("testcase") if t.get("classname") == "clue.gates" and t.get("name") != "verdict"]
    assert gate.get("name") == "mednli.accuracy >= 0" and len(gate) == 0  # passed: no child element
    failing = run(suite, *args, "--clue-thresholds=gates-fail.toml")
    assert failing.ret == 1
    failing.stdout.fnmatch_lines(["*gate FAIL*mednli.accuracy >= 0.99*"])


def test_one_sample_by_node_id(suite, baseline):
    first = run(suite, f"--model-endpoint={baseline.url}", "--clue-tasks=meqsum", "--collect-only", "-q")
    node = next(line for line in first.outlines if "test_sample[meqsum:" in line)
    result = run(suite, f"--model-endpoint={baseline.url}", node)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 1
    assert generation_requests(baseline) == 1


def test_a_sample_skipped_while_running_is_not_counted_as_failed(suite, baseline):
    (suite.path / "conftest.py").write_text(
        "import pytest\n\n"
        "@pytest.hookimpl(tryfirst=True)\n"
        "def pytest_runtest_call(item):\n"
        "    if item.nodeid.endswith(']') and item.session.items.index(item) == 0:\n"
        "        pytest.skip('skipped by the user')\n")
    result = run(suite, f"--model-endpoint={baseline.url}", "--clue-tasks=mednli", "--clue-limit=4")
    outcomes = result.parseoutcomes()
    assert outcomes.get("skipped") == 1 and outcomes.get("passed", 0) + outcomes.get("failed", 0) == 3
    mednli = report(suite)["tasks"]["mednli"]
    assert mednli["n_samples"] == 3 and mednli["n_failed"] == outcomes.get("failed", 0)
    assert mednli["n_missing"] == 1  # not judged: the task is partial, not a failure


def test_all_tasks_run_and_levels_come_from_the_printed_task_numbers(suite):
    result = run(suite, "--clue-no-cache")
    data = report(suite)
    assert set(data["tasks"]) == {"mednli", "meqsum", "problemsummary", "longhealth-t1", "longhealth-t2",
                                  "longhealth-t3", "medisumqa", "medisumcode"}
    assert all(t["n_errored"] == 0 and t["n_samples"] > 0 for t in data["tasks"].values())
    from clue_checks.report.numbers.levels import LEVELS

    for level, components in LEVELS.items():
        printed = data["levels"][f"level{level}"]
        expected = {}
        for name, parts in components:
            values = [data["tasks"][task]["metrics"][metric]["value"] for task, metric in parts]
            expected[name] = sum(values) / len(values)
        assert printed["components"] == pytest.approx(expected)
        assert printed["value"] == pytest.approx(sum(expected.values()) / len(expected))
        low, high = printed["ci95"]
        assert low <= printed["value"] <= high
        result.stdout.fnmatch_lines([f"Level {level}: {printed['value']:.3f}*"])
    assert data["run"]["seeds"]["longhealth"] is not None
    # The manifest names every data file read, by its sha256, and what an auditor needs beside it.
    import hashlib

    files = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.parent != FIXTURES and "_src" not in p.parts)
    manifest = data["manifest"]
    assert {k: v for k, v in manifest.items() if k.startswith("data.sha256.")} == {
        f"data.sha256.{p.relative_to(FIXTURES).as_posix()}": hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    assert list(manifest) == sorted(manifest)
    for key in ("clue_checks.version", "python.version", "package.transformers", "package.torch", "prompts.sha256",
                "chat_template.sha256", "generation.meqsum.max_new_tokens", "thresholds.sha256", "thresholds.content",
                "endpoint.info", "run.started", "run.duration_s", "command"):
        assert manifest[key] is not None, key
    assert "## Provenance" in (suite.path / "clue-report" / "clue-report.md").read_text()


def test_every_task_number_traces_to_per_sample_values(tiny_bert, suite):
    run(suite, "--clue-no-cache", "--clue-tasks=meqsum,medisumcode", f"--clue-bertscore-model={tiny_bert}", "--clue-bertscore-layers=2")
    data = report(suite)
    for task, summary in data["tasks"].items():
        rows = [json.loads(line) for line in
                (suite.path / "clue-report" / "predictions" / f"{task}.jsonl").read_text().splitlines()]
        assert len(rows) == summary["n_samples"]
        for metric, value in summary["metrics"].items():
            # Each row is the full sample record; its metrics (batched ones included) are under "metrics".
            per_sample = [r["metrics"][metric] for r in rows if r["metrics"].get(metric) is not None]
            assert value["n"] == len(per_sample), metric
            assert value["value"] == pytest.approx(sum(per_sample) / len(per_sample)), metric
    assert data["tasks"]["meqsum"]["metrics"]["bertscore_f1"]["value"] is not None
    assert data["run"]["bertscore_override"] == {"model": tiny_bert, "layers": 2}


def test_head_profile_runs_without_prefix(suite):
    result = run(suite, "--clue-no-cache", "--clue-profile=head", "--clue-tasks=meqsum,medisumcode", "--clue-limit=3")
    data = report(suite)
    assert data["run"]["profile"] == "head"
    assert data["tasks"]["meqsum"]["n_samples"] == 3 and data["tasks"]["meqsum"]["n_errored"] == 0
    assert result.ret in (0, 1)


def test_a_misspelt_thresholds_key_is_refused(suite):
    (suite.path / "bad.toml").write_text('[sample]\n"meqsum.rougel" = 0.9\n[gate]\n"mednil.accuracy" = ">= 0.5"\n')
    result = run(suite, "--clue-thresholds=bad.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "meqsum has no metric 'rougel'" in err  # at start-up
    # A task nobody defined could still be a test module's task file: refused once the collection is done.
    (suite.path / "unknown.toml").write_text('[gate]\n"mednil.accuracy" = ">= 0.5"\n')
    result = run(suite, "--clue-thresholds=unknown.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unknown task 'mednil'" in result.stderr.str()
    # Floors the sample check would never read are refused too: a check that cannot fail.
    (suite.path / "inert.toml").write_text('[sample]\n"mednli.accuracy" = 1.0\n"meqsum.bertscore_f1" = 0.5\n')
    result = run(suite, "--clue-thresholds=inert.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "no per-sample floor on 'accuracy'" in err and "pass by answering correctly" in err
    assert "no per-sample floor on 'bertscore_f1'" in err and "computed over the whole task" in err


@pytest.mark.parametrize(("option", "message"), [
    ("--clue-limit=0", "--clue-limit must be at least 1, got 0"),  # 0 used to mean "no limit": the whole benchmark
    ("--clue-concurrency=0", "--clue-concurrency must be at least 1, got 0"),
    ("--clue-request-timeout=-5", "--clue-request-timeout must be more than 0 seconds"),
    ("--clue-progress-every=0", "--clue-progress-every must be more than 0 seconds"),
])
def test_nonsense_numbers_are_usage_errors(suite, option, message):
    result = run(suite, option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR and message in result.stderr.str()


def test_an_ini_setting_error_names_the_ini_key(suite):
    (suite.path / "pytest.ini").write_text((suite.path / "pytest.ini").read_text() + "clue_limit = 0\n")
    result = run(suite)
    assert result.ret == pytest.ExitCode.USAGE_ERROR and "clue_limit (ini file) must be at least 1" in result.stderr.str()


def test_gate_mode_does_not_pass_on_a_partial_run(suite, baseline):
    (suite.path / "gates.toml").write_text('[gate]\n"mednli.accuracy" = ">= 0.0"\n')
    args = (f"--model-endpoint={baseline.url}", "--clue-tasks=mednli", "--clue-exit=gates", "--clue-thresholds=gates.toml")
    assert run(suite, *args).ret == 0
    partial = run(suite, *args, "--clue-limit=5")
    assert partial.ret == 1
    partial.stdout.fnmatch_lines(["*partial run*", "*gate INCOMPLETE*only 5 of*"])  # notes come before the table
    assert report(suite)["tasks"]["mednli"]["partial"] is True


def test_any_error_while_scoring_is_an_errored_sample_in_the_report(suite, baseline, monkeypatch):
    # A scorer that breaks on one sample (a bug, an odd record): the sample must not vanish from the report.
    from clue_checks.tasks.mednli import MedNLI

    score, load = MedNLI.score, MedNLI.load
    broken = []

    def breaking_score(self, sample, response, floors):
        if sample is broken[0]:
            raise RuntimeError("scorer bug")
        return score(self, sample, response, floors)

    def remembering_load(self, data_dir):
        loaded = load(self, data_dir)
        broken[:] = [loaded.samples[0]]
        return loaded

    monkeypatch.setattr(MedNLI, "score", breaking_score)  # undone after the test: the run is in this process
    monkeypatch.setattr(MedNLI, "load", remembering_load)
    (suite.path / "gates.toml").write_text('[gate]\n"mednli.accuracy" = ">= 0.0"\n')
    result = run(suite, f"--model-endpoint={baseline.url}", "--clue-tasks=mednli", "--clue-exit=gates",
                 "--clue-thresholds=gates.toml")
    assert result.parseoutcomes().get("errors") == 1
    data = report(suite)["tasks"]["mednli"]
    assert data["n_errored"] == 1 and data["n_samples"] == data["n_selected"]
    assert result.ret == 1  # the gate cannot pass with an errored sample
    result.stdout.fnmatch_lines(["*gate INCOMPLETE*1 sample(s) errored*"])


# -- gate semantics for CI -----------------------------------------------------------------------


def test_gate_mode_on_the_selected_tasks_passes_with_the_shipped_thresholds(suite):
    result = run(suite, "--clue-exit=gates", "--clue-tasks=mednli", "--clue-no-cache", "-q", "--tb=no")
    assert result.ret == 0, result.stdout.str()[-3000:]
    statuses = {g["gate"]: g["status"] for g in report(suite)["gates"]}
    assert statuses.pop("mednli.accuracy >= 0.3") == "pass"
    assert set(statuses.values()) == {"not selected"}  # gates of the tasks --clue-tasks left out
    assert report(suite)["verdict"] == "pass"


def test_gate_mode_fails_when_a_test_outside_clue_fails(suite, baseline):
    (suite.path / "gates.toml").write_text('[gate]\n"mednli.accuracy" = ">= 0.0"\n')
    (suite.path / "tests").mkdir()
    (suite.path / "tests" / "test_app.py").write_text("def test_app():\n    assert 1 + 1 == 3\n")
    args = (f"--model-endpoint={baseline.url}", "--clue-tasks=mednli", "--clue-exit=gates", "--clue-thresholds=gates.toml",
            "tests_clinical")
    assert run(suite, *args).ret == 0
    result = run(suite, *args, "tests")
    assert result.ret == 1 and report(suite)["verdict"] == "pass"  # the gates pass; the session does not


def test_a_real_model_on_the_synthetic_fixtures_is_marked_and_cannot_pass(suite):
    (suite.path / "gates.toml").write_text('[gate]\n"mednli.accuracy" = ">= 0.0"\n')
    warning = "synthetic fixtures: scores mean nothing clinically; give --clue-data"
    with FakeServer(chat_server(lambda body, count: ok("neutral"))) as server:
        args = (f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-exit=gates", "--clue-thresholds=gates.toml",
                "--clue-no-cache")
        marked = run(suite, *args)
        assert marked.ret == 1
        marked.stdout.fnmatch_lines([f"clue-checks: WARNING {warning}", "*CLUE report*", f"WARNING: {warning}",
                                     "gate PASS*mednli.accuracy*", f"verdict: FAIL ({warning}*--clue-allow-synthetic*"])
        data = report(suite)
        # A fake chat server under the paper profile also gets the chat-mode warning (no prefill).
        assert data["warnings"][0] == warning and data["verdict"] == "fail"
        assert all(w == warning or w.startswith("chat mode under the paper profile") for w in data["warnings"])
        assert f"> **Warning**: {warning}" in (suite.path / "clue-report" / "clue-report.md").read_text()
        allowed = run(suite, *args, "--clue-allow-synthetic")
    assert allowed.ret == 0 and report(suite)["verdict"] == "pass" and report(suite)["warnings"][0] == warning


@pytest.mark.slow
def test_an_unreachable_endpoint_named_in_the_ini_file_under_xdist_is_one_clear_error(suite):
    # Not on the command line, so no check before the workers start: a worker that cannot connect says so
    # and stops the run (a worker that exited would be restarted by xdist, its message lost).
    url = free_port_url()
    ini = (suite.path / "pytest.ini").read_text() + f"clue_data = {FIXTURES}\n"
    (suite.path / "pytest.ini").write_text(ini + f"clue_model_endpoint = {url}\nclue_tasks = mednli\n")
    result = suite.runpytest_subprocess("-p", "no:randomly", "-n", "2", timeout=120)
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "Interrupted: clue-checks: " in output and url in output and "node down" not in output
    assert not (suite.path / "clue-report" / "clue-report.json").exists()
