"""The fault matrix at the plugin level: each case a pytest run of the real suite (in this process unless
xdist or a terminal is the point) against a fake server or a broken file, asserting the exit code, the message, what reached the
server, and what was written. The endpoint layer's own cases are in test_fault_matrix.py.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import sqlite3
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from clue_checks.endpoint.breaker import WINDOW
from fakes import FakeServer
from suite_runs import FIXTURES, chat_server, ok, report, run, run_as_user, suite  # noqa: F401  (suite is a fixture)

pytest_plugins = ["pytester"]

KEY = "sk-live-plugin-0123456789abcdef"
TRACEBACKS = ("INTERNALERROR", "Traceback")


def output_of(result: pytest.RunResult) -> str:
    return result.stdout.str() + result.stderr.str()


def one_line_naming(result: pytest.RunResult, *needles: str) -> str:
    """The run stopped with exit 2 and one message line naming each needle; no traceback."""
    text = output_of(result)
    assert result.ret == 2, text[-3000:]
    assert not any(t in text for t in TRACEBACKS), text[-3000:]
    lines = [line for line in text.splitlines() if all(n in line for n in needles)]
    assert lines, text[-3000:]
    return lines[0]


# -- the response store ------------------------------------------------------------------------------------


def _garbage(folder: Path) -> str:
    folder.mkdir()
    (folder / "responses.sqlite3").write_bytes(b"this is not a database" * 100)
    return str(folder / "responses.sqlite3")


def _truncated(folder: Path) -> str:
    folder.mkdir()
    path = folder / "responses.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x TEXT)")
        conn.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 200)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return str(path)


def _file_for_folder(folder: Path) -> str:
    folder.write_text("not a folder")
    return str(folder)


@pytest.mark.parametrize("damage", [_garbage, _truncated, _file_for_folder])
def test_an_unusable_store_is_one_line_naming_it_and_the_fixes_before_any_request(suite, damage):
    named = damage(suite.path / "cache")
    with FakeServer(chat_server(lambda body, count: ok("neutral"))) as server:
        result = run(suite, f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-limit=3", "--clue-cache=cache")
        sent = server.count("/v1/chat/completions")
    one_line_naming(result, named, "--clue-no-cache")
    assert sent == 0


def test_a_store_locked_by_another_process_is_one_line(suite, monkeypatch):
    from clue_checks.endpoint.store import ResponseStore

    # The same rule with a wait for the lock twenty times shorter (10 s a user waits); undone after the test.
    monkeypatch.setitem(ResponseStore.__init__.__kwdefaults__, "lock_wait", 0.5)
    (suite.path / "cache").mkdir()
    path = suite.path / "cache" / "responses.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE IF NOT EXISTS x (y)")
    holder.execute("BEGIN IMMEDIATE")  # another run's write lock, held throughout
    try:
        result = run(suite, "--clue-tasks=mednli", "--clue-limit=2", "--clue-cache=cache")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "locked" in one_line_naming(result, str(path), "--clue-no-cache")


@pytest.mark.slow
def test_an_unusable_store_under_xdist_is_one_message_before_any_worker(suite):
    named = _garbage(suite.path / "cache")
    result = run_as_user(suite, "--clue-tasks=mednli", "--clue-limit=3", "--clue-cache=cache", "-n", "2")
    assert "--clue-refresh" in one_line_naming(result, named, "--clue-no-cache")


def test_stored_answers_that_cannot_be_read_are_asked_again_and_reported(suite):
    with FakeServer(chat_server(lambda body, count: ok("neutral"))) as server:
        url = server.url
        run(suite, f"--model-endpoint={url}", "--clue-tasks=mednli", "--clue-limit=4", "--clue-cache=cache")
        with sqlite3.connect(suite.path / "cache" / "responses.sqlite3") as conn:
            conn.execute("UPDATE responses SET completion = '{not json'")
        before = server.count("/v1/chat/completions")
        result = run(suite, f"--model-endpoint={url}", "--clue-tasks=mednli", "--clue-limit=4", "--clue-cache=cache")
        asked_again = server.count("/v1/chat/completions") - before
    assert asked_again == 4  # each unreadable row is a miss, asked again once
    data = report(suite)
    assert data["store"]["bad_rows"] == 4 and data["requests"]["sent"] == 4
    assert data["tasks"]["mednli"]["n_errored"] == 0
    result.stdout.fnmatch_lines(["*warning: store: 4 stored answers could not be read back and were asked again*"])
    assert "store operations failed" not in result.stdout.str()  # the bad rows are not counted twice


# -- a server in trouble -----------------------------------------------------------------------------------


def test_a_server_answering_503_forever_stops_the_run_within_a_bound(suite, monkeypatch):
    from clue_checks.endpoint.retry import RetryPolicy
    from clue_checks.endpoint.scheduler import Scheduler

    # The same rules with delays a hundred (the cap a thousand) times shorter; undone after the test.
    monkeypatch.setitem(Scheduler.__init__.__kwdefaults__, "retry", RetryPolicy(base_delay=0.005, max_delay=0.03))
    with FakeServer(chat_server(lambda body, count: (503, {"Retry-After": "0"}, {"error": "unavailable"}))) as server:
        result = run(suite, f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-limit=20", "--clue-no-cache",
                     "--clue-concurrency=4")
        received = server.count("/v1/chat/completions")
    text = output_of(result)
    # Bounded: the breaker's window of tries plus what was on the wire; 20 samples each retried on its own
    # would be 120 requests.
    assert received <= WINDOW + 3 * 4, received
    assert result.ret != 0 and not any(t in text for t in TRACEBACKS)
    data = report(suite)
    assert data["performance"]["stopped"]  # said once, for the whole run
    assert data["tasks"]["mednli"]["n_errored"] >= 1
    print(f"503-forever: {received} requests for 20 samples")


# -- text the files cannot hold, secrets, and huge replies -------------------------------------------------


def _surrogate_reply(body, count):
    payload = ('{"choices": [{"index": 0, "message": {"role": "assistant", "content": "unsure \\ud800 tail"}, '
               '"finish_reason": "stop"}], "usage": {"completion_tokens": 3}}')
    return 200, {"Content-Type": "application/json"}, payload.encode()


def test_a_lone_surrogate_reply_is_stored_and_reported(suite):
    with FakeServer(chat_server(_surrogate_reply)) as server:
        result = run(suite, f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-limit=3", "--clue-cache=cache",
                     "--junitxml=junit.xml")
    text = output_of(result)
    assert result.ret == 1 and not any(t in text for t in TRACEBACKS), text[-3000:]
    result.stdout.fnmatch_lines(["*CLUE report*", "MedNLI*accuracy*", "*3 failed*"])
    rows = [json.loads(line) for line in (suite.path / "clue-report/predictions/mednli.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all(r["response"] == "unsure \\ud800 tail" for r in rows)
    assert report(suite)["tasks"]["mednli"]["n_failed"] == 3
    ET.parse(suite.path / "junit.xml")  # well-formed
    # Stored exactly as received: the rerun sends nothing.
    from clue_checks.endpoint.store import ResponseStore

    store = ResponseStore(suite.path / "cache" / "responses.sqlite3")
    try:
        assert len(store) == 3
        texts = {json.loads(row[0])["text"] for row in store._connection().execute("SELECT completion FROM responses")}
    finally:
        store.close()
    assert texts == {"unsure \ud800 tail"}
    with FakeServer(chat_server(_surrogate_reply)) as server:
        run(suite, f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-limit=3", "--clue-cache=cache")
        assert server.count("/v1/chat/completions") == 0


def _echo_key(server: FakeServer):
    def answer(body, count):
        authorization = server.requests[count - 1].headers.get("authorization", "")
        if count % 3 == 0:  # some requests refused, the header quoted back
            return 400, {}, {"error": f"bad request from Authorization: {authorization}", "error_type": "validation"}
        return ok(f"neutral. You sent {authorization}; key {authorization.removeprefix('Bearer ')}")
    return answer


@pytest.mark.parametrize("variable", ["CLUE_API_KEY", "OPENAI_API_KEY"])  # the latter: chat mode's usual one
def test_an_echoed_api_key_appears_in_no_file_and_no_printed_line(suite, monkeypatch, variable):
    server = FakeServer(lambda *a: None)
    server.handler = chat_server(_echo_key(server))
    for name in ("CLUE_API_KEY", "OPENAI_API_KEY", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, KEY)
    with server:
        result = run(suite, f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-limit=6", "--clue-no-cache",
                     "--junitxml=junit.xml", "-rA")
        assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"  # it was sent
    text = output_of(result)
    assert f"API key from {variable}" in text  # the header names the variable, never the key
    assert "[REDACTED]" in text and KEY not in text
    files = [p for p in suite.path.rglob("*") if p.is_file() and ".py" not in p.suffix]
    written = [p for p in files if "clue-report" in p.parts or p.name == "junit.xml"]
    assert len(written) >= 4  # json, md, predictions, junit
    assert [p for p in written if KEY.encode() in p.read_bytes()] == []
    assert any(b"[REDACTED]" in p.read_bytes() for p in written if p.suffix == ".jsonl")


def test_five_megabyte_replies_leave_the_terminal_and_junit_bounded(suite):
    big = "neutral " + "x" * (5 * 1024 * 1024)
    with FakeServer(chat_server(lambda body, count: ok(big))) as server:
        # --tb=long: each failing sample's whole story (by default it is one line), bounded all the same.
        result = run(suite, f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-limit=3", "--clue-no-cache",
                     "--junitxml=junit.xml", "--tb=long")
    stdout = len(result.stdout.str().encode()) + len(result.stderr.str().encode())
    junit = (suite.path / "junit.xml").stat().st_size
    print(f"5 MB x 3 samples: stdout+stderr {stdout:,} bytes, JUnit {junit:,} bytes")
    assert stdout < 200_000 and junit < 200_000
    assert "characters not shown" in result.stdout.str()
    rows = (suite.path / "clue-report/predictions/mednli.jsonl").read_text().splitlines()
    assert all(len(json.loads(r)["response"]) == len(big) for r in rows)  # the whole text is in the report


# -- configuration mistakes: usage errors before any inference ------------------------------------------


def test_a_thresholds_file_that_is_not_utf8_is_a_usage_error_naming_it(suite):
    (suite.path / "bad.toml").write_bytes(b'[gate]\nname = "\xff"\n')
    result = run(suite, "--clue-tasks=mednli", "--clue-limit=2", "--clue-thresholds=bad.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*bad.toml, line 2: not UTF-8*"])
    assert "Traceback" not in output_of(result)


@pytest.mark.parametrize("target", ["afile", "afile/reports"])
def test_a_report_dir_that_is_or_sits_under_a_file_is_a_usage_error(suite, target):
    (suite.path / "afile").write_text("")
    with FakeServer(chat_server(lambda body, count: ok("neutral"))) as server:
        result = run(suite, f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-limit=2", f"--clue-report-dir={target}")
        sent = server.count("/v1/chat/completions")
    assert result.ret == pytest.ExitCode.USAGE_ERROR and sent == 0
    result.stderr.fnmatch_lines([f"*--clue-report-dir*{target}*"])


def test_clue_data_with_a_space_is_a_usage_error_with_the_fix(suite):
    result = suite.runpytest_inprocess("--clue-data", str(FIXTURES), "--clue-tasks=mednli", "--clue-limit=2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*write --clue-data={FIXTURES}*"])


def test_clue_data_with_a_space_inside_the_project_runs(suite):
    shutil.copytree(FIXTURES, suite.path / "data")  # pytest still finds the project's pytest.ini from data/
    result = suite.runpytest_inprocess("--clue-data", "data", "--clue-tasks=mednli", "--clue-limit=2",
                                       "--clue-no-cache", "-p", "no:cacheprovider")
    assert result.ret in (0, 1), result.stderr.str()
    assert "with a space" not in result.stderr.str()


# -- what the header and the report say ------------------------------------------------------------------


def test_chat_mode_under_the_paper_profile_is_warned_in_terminal_and_report(suite):
    with FakeServer(chat_server(lambda body, count: ok("neutral"))) as server:
        result = run(suite, f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-limit=2", "--clue-no-cache")
    result.stdout.fnmatch_lines(["*WARNING: chat mode under the paper profile*"])
    warnings = report(suite)["warnings"]
    assert any(w.startswith("chat mode under the paper profile") for w in warnings)
    assert "chat mode under the paper profile" in (suite.path / "clue-report/clue-report.md").read_text()


def test_the_report_records_duration_throughput_latency_and_concurrency(suite):
    with FakeServer(chat_server(lambda body, count: ok("neutral"))) as server:
        run(suite, f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-limit=4", "--clue-cache=cache")
        perf = report(suite)["performance"]
        assert perf["duration_s"] > 0 and perf["throughput"]["requests_per_s"] > 0
        assert perf["throughput"]["output_tokens"] == 4  # one token per answer, from usage
        latency = perf["latency"]["mednli"]
        assert latency["n"] == 4 and 0 < latency["p50_s"] <= latency["p95_s"]
        assert set(perf["concurrency"]) >= {"start", "min", "max", "final", "peak_in_flight", "decreases"}
        assert perf["retries"] == 0 and perf["rerouted"] == 0 and perf["replica_events"] == []
        # A rerun answered from the store times nothing: its answers carry an earlier run's latency.
        result = run(suite, f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-limit=4", "--clue-cache=cache")
    latency = report(suite)["performance"]["latency"]["mednli"]
    assert latency["n"] == 0 and latency["excluded"]["from_store"] == 4 and "store" in latency["not_computed"]
    result.stdout.fnmatch_lines(["run: * s *"])


# -- the live progress line ------------------------------------------------------------------------------


def _screen(data: str) -> list[str]:
    """What a terminal shows after `data`: the few controls pytest and the progress line use."""
    lines: list[list[str]] = [[]]
    row = col = 0
    for m in re.finditer(r"\x1b\[([0-9;]*)([A-Za-z])|(.)", data, re.S):
        ch = m.group(3)
        if ch is not None:
            if ch == "\r":
                col = 0
            elif ch == "\n":
                row += 1
                if row == len(lines):
                    lines.append([])
            else:
                line = lines[row]
                line.extend(" " * (col - len(line)))
                line[col:col + 1] = [ch]
                col += 1
            continue
        n, cmd = m.group(1), m.group(2)
        k = int(n) if n and n.isdigit() else 1
        if cmd == "A":
            row = max(0, row - k)
        elif cmd == "G":
            col = k - 1
        elif cmd == "K":
            lines[row] = [] if n == "2" else lines[row][:col]
    return ["".join(line).rstrip() for line in lines]


def _in_a_pty(args: list[str], cwd: Path) -> str:
    pid, fd = pty.fork()
    if pid == 0:  # the child: pytest with a terminal
        os.chdir(cwd)
        os.environ["COLUMNS"] = "120"
        os.execv(sys.executable, [sys.executable, "-m", "pytest", *args])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    return out.decode("utf-8", "replace")


def _slow(body, count):
    time.sleep(0.35)  # each sample waits past the line's 0.2 s poll
    return ok("neutral")


@pytest.mark.slow
@pytest.mark.parametrize("quiet", [False, True])
def test_the_live_line_shows_while_waiting_and_leaves_pytests_lines_intact(suite, quiet):
    with FakeServer(chat_server(_slow)) as server:
        raw = _in_a_pty([f"--clue-data={FIXTURES}", "-p", "no:randomly", f"--model-endpoint={server.url}",
                         "--clue-tasks=mednli", "--clue-limit=4", "--clue-concurrency=1", "--clue-no-cache",
                         *(["-q"] if quiet else [])], suite.path)
    if quiet:
        assert "clue: " not in raw
        return
    assert re.search(r"clue: \d/4 samples · 1 in flight \(limit 1\)", raw), raw[-2000:]
    screen = _screen(raw)
    dots = [line for line in screen if line.startswith("tests_clinical/test_mednli.py")]
    assert len(dots) == 1 and re.fullmatch(r"tests_clinical/test_mednli.py [.F]{4} +\[100%\]", dots[0]), screen
    assert not any(line.startswith("clue: ") for line in screen)  # erased: only the summary's `run:` line stays


def test_without_a_terminal_a_fast_run_prints_no_progress_line(suite):
    result = run(suite, "--clue-tasks=mednli", "--clue-limit=3", "--clue-no-cache")
    assert not any(line.startswith("clue: ") for line in result.stdout.lines)


# -- the live progress line under pytest-xdist: the controller sums what the workers send ---------------------

# Eight MedNLI samples, spread by xdist over both workers: a task whose scoring imports nothing heavy, for the
# progress line is the same whatever the task.
XDIST_PROGRESS = ("-n", "2", "--clue-tasks=mednli", "--clue-limit=8", "--clue-concurrency=4", "--clue-no-cache")


def _neutral_after_a_while(body, count):
    time.sleep(0.05)
    return ok("neutral")


@pytest.fixture
def slow_chat():
    """A chat server on a free loopback port, a little slow so that each worker has requests in flight (a
    canned answer, not the embedded baseline: its generate mode has each worker load a tokenizer)."""
    with FakeServer(chat_server(_neutral_after_a_while)) as server:
        yield server


@pytest.mark.slow
def test_under_xdist_ci_gets_plain_lines_with_totals_over_both_workers(suite, slow_chat):
    # A pipe, not a terminal: the CI branch (unit-tested in test_progress.py) prints these plain lines.
    result = run_as_user(suite, f"--model-endpoint={slow_chat.url}", *XDIST_PROGRESS, "--clue-progress-every=0.001")
    text = output_of(result)
    assert result.ret in (0, 1), text[-3000:]
    lines = [line for line in result.stdout.lines if line.startswith("clue: ")]
    # 8 samples over both workers, each worker holding 2 of the 4 slots.
    shape = r"clue: [1-8]/8 samples · \d+ in flight \(limit [24]\) · "
    assert lines and all(re.match(shape, line) for line in lines), text
    last = lines[-1]
    assert last.startswith("clue: 8/8 samples · 0 in flight (limit 4) · "), last
    assert " · 0 errors · done in " in last, last
    data = report(suite)
    sent = data["requests"]["sent"]
    assert sent == 8 == slow_chat.count("/v1/chat/completions")
    # The run's performance merges both workers': every answer timed, tries and limits summed over the two
    # processes, and the store's counts too.
    performance = data["performance"]
    assert performance["tries"] == sent and data["store"] is not None and data["store"]["errors"] == 0
    assert sum(task["n"] for task in performance["latency"].values()) == 8
    assert performance["concurrency"]["processes"] == 2 and performance["concurrency"]["final"] == 4
    assert performance["throughput"]["requests_per_s"] == pytest.approx(8 / performance["duration_s"], abs=2e-3)


@pytest.mark.slow
def test_under_xdist_quiet_shows_no_progress_line(suite, slow_chat):
    result = run_as_user(suite, f"--model-endpoint={slow_chat.url}", *XDIST_PROGRESS, "--clue-progress-every=0.001", "-q")
    assert result.ret in (0, 1), output_of(result)[-3000:]
    assert "clue: " not in output_of(result)


@pytest.mark.slow
@pytest.mark.parametrize("verbose", [False, True])
def test_under_xdist_a_terminal_shows_one_updating_line_and_pytests_lines_stay_intact(suite, slow_chat, verbose):
    raw = _in_a_pty([f"--clue-data={FIXTURES}", "-p", "no:randomly", f"--model-endpoint={slow_chat.url}",
                     *XDIST_PROGRESS, *(["-v"] if verbose else [])], suite.path)
    assert re.search(r"clue: [1-8]/8 samples · \d+ in flight \(limit [24]\) · ", raw), raw[-3000:]
    screen = _screen(raw)
    if verbose:  # one line per test, each whole: pytest's newline never lands on a stale progress line
        tests = [line for line in screen if re.match(r"\[gw\d\] \[", line)]  # not the failures' `[gw1] linux`
        assert len(tests) == 8 and all(re.fullmatch(r"\[gw[01]\] \[ *\d+%\] (PASSED|FAILED) tests_clinical/"
                                                     r"test_mednli\.py::test_sample\[[^\]]+\]", line)
                                       for line in tests), screen
    else:
        dots = [line for line in screen if re.fullmatch(r"[.F]+ +\[100%\]", line)]
        assert len(dots) == 1 and len(dots[0].split()[0]) == 8, screen
    assert not any(line.startswith("clue: ") for line in screen)  # erased at the end: the `run:` line stays
    assert any(line.startswith("run: ") for line in screen), screen


KILL_A_WORKER = '''
import os, signal
from pathlib import Path

def pytest_runtest_teardown(item):
    # The first worker to finish its fifth sample dies as if killed by the OOM killer (once).
    done = item.config.stash.setdefault("samples", [0])
    done[0] += 1
    flag = Path(item.config.rootpath) / "killed-once"
    if os.environ.get("PYTEST_XDIST_WORKER") and done[0] == 5:
        try:
            flag.open("x").close()
        except FileExistsError:
            return
        os.kill(os.getpid(), signal.SIGKILL)
'''


@pytest.mark.slow
def test_a_killed_xdist_worker_still_has_its_requests_counted(suite):
    (suite.path / "conftest.py").write_text(KILL_A_WORKER)
    with FakeServer(chat_server(lambda body, count: ok("neutral"))) as server:
        result = run_as_user(suite, f"--model-endpoint={server.url}", "--clue-tasks=mednli", "--clue-limit=40", "--clue-cache=c",
                             "-n", "2")
        received = server.count("/v1/chat/completions")
    assert (suite.path / "killed-once").exists() and "crashed" in output_of(result).lower()
    requests = report(suite)["requests"]
    # Every request the server answered is counted, the dead worker's included (it had answered its share
    # before it died: nothing was left on the wire).
    assert requests["sent"] + requests["failed"] == received, (requests, received)
