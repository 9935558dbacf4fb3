"""The fault matrix of the endpoint layer: each case a fake server or a broken store file, run at the
Scheduler level as a run would, asserting what the server received against what was needed, that no
answer is lost or left unresolved, and the one message the user gets."""

from __future__ import annotations

import concurrent.futures
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from clue_checks.endpoint.breaker import WINDOW
from clue_checks.endpoint.client import EndpointClient
from clue_checks.endpoint.retry import RetryPolicy
from clue_checks.endpoint.scheduler import Outcome, Scheduler
from clue_checks.endpoint.store import NullStore, ResponseStore, StoreError
from clue_checks.endpoint.transports import TRANSPORTS
from clue_checks.endpoint.types import (EndpointError, EndpointIdentity, EndpointUnavailable, GenerationParams, Request,
                                        request_key, utf8_safe)

from fakes import DROP, FakeServer, generated, tgi_handler

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)
OVERLOADED = (429, {}, {"error": "Model is overloaded", "error_type": "overloaded"})


def gen(text: str) -> Request:
    return Request("generate", GenerationParams(5), prompt=text)


def upper(body: Any, count: int) -> Any:
    return generated(body["inputs"].upper())


HTTP: dict[str, str] = {}  # the transport of the case running now


@pytest.fixture(autouse=True, params=TRANSPORTS)
def http(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every case on each transport the client can send with: the same faults must give the same results."""
    HTTP["name"] = request.param
    yield request.param
    HTTP.clear()


@contextmanager
def running(urls: str | Sequence[str], store: Any = None, **kwargs: Any) -> Iterator[Scheduler]:
    scheduler = Scheduler([urls] if isinstance(urls, str) else list(urls), NullStore() if store is None else store,
                          retry=kwargs.pop("retry", FAST), http=HTTP["name"], **kwargs)
    try:
        scheduler.start()
        yield scheduler
    finally:
        scheduler.close()


# The breaker trips once its window has been failing for one retry budget (a time: 0.03 s under FAST), so the
# tries a bound must allow beyond the window and what was in flight depend on how fast this machine and client
# are; this is a generous allowance for them, far below the tries the samples would take unstopped.
TRIES_IN_ONE_BUDGET = 60

HANG_GUARD = 300.0  # seconds: fails a run that hangs; no test here claims a speed


def resolve(futures: list[concurrent.futures.Future[Outcome]]) -> list[Outcome | BaseException]:
    """Every future resolved (nothing hangs): its outcome or its error."""
    done, pending = concurrent.futures.wait(futures, timeout=HANG_GUARD)
    assert not pending, f"{len(pending)} of {len(futures)} requests never resolved"
    return [f.exception() or f.result() for f in futures]


def answers(scheduler: Scheduler, prompts: Sequence[str]) -> list[Outcome | BaseException]:
    return resolve([scheduler.submit(gen(p)) for p in prompts])


def prompts(n: int, prefix: str = "p") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def one_line_naming(message: str, path: Path) -> None:
    assert "\n" not in message and str(path) in message and "--clue-no-cache" in message


# -- the store: broken files are one message at open -----------------------------------------------


def _filled_store(path: Path, n: int = 300) -> None:
    store = ResponseStore(path)
    identity = EndpointIdentity("tgi", "org/m", "r1")
    from clue_checks.endpoint.types import Completion

    for i in range(n):
        request = gen(f"prompt {i} " * 20)
        store.put(request_key(identity, request), identity, request, Completion("answer " * 30))
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _corrupt_page(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = 4096
    data[5 * page: 6 * page] = b"\xab" * page  # one page in the middle of the table's b-tree
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(20_000))


@pytest.mark.parametrize("damage", [_corrupt_page, _truncate, _garbage], ids=["corrupt-page", "truncated", "garbage"])
def test_an_unreadable_store_file_is_one_message_with_the_fixes(tmp_path, damage):
    path = tmp_path / "cache" / "responses.sqlite3"
    path.parent.mkdir()
    _filled_store(path)
    damage(path)
    with pytest.raises(StoreError) as caught:
        ResponseStore(path)
    message = str(caught.value)
    one_line_naming(message, path)
    assert "--clue-refresh" in message and "Delete it" in message
    # --clue-refresh keeps the damaged file beside a new store, and says so.
    store = ResponseStore(path, replace_corrupt=True)
    assert len(store) == 0 and len(store.notes) == 1 and "corrupt" in store.notes[0]
    assert [p.name for p in path.parent.iterdir() if ".corrupt-" in p.name]
    store.close()


def test_a_file_where_the_cache_folder_should_be(tmp_path):
    (tmp_path / "cache").write_text("not a folder")
    path = tmp_path / "cache" / "responses.sqlite3"
    with pytest.raises(StoreError) as caught:
        ResponseStore(path)
    one_line_naming(str(caught.value), path)
    assert f"{tmp_path / 'cache'} is a file" in str(caught.value)


def test_a_folder_where_the_store_file_should_be(tmp_path):
    path = tmp_path / "responses.sqlite3"
    path.mkdir()
    with pytest.raises(StoreError) as caught:
        ResponseStore(path)
    one_line_naming(str(caught.value), path)


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """A folder nobody may write to, root included (chattr +i), else by permissions."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
            pytest.skip("running as root without chattr: no way to make a folder read-only here")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)


@pytest.mark.parametrize("existing", [False, True], ids=["new-store", "existing-store"])
def test_a_read_only_cache_folder(tmp_path, existing):
    folder = tmp_path / "cache"
    folder.mkdir()
    path = folder / "responses.sqlite3"
    if existing:
        _filled_store(path, 5)
    with read_only(folder):
        with pytest.raises(StoreError) as caught:
            ResponseStore(path)
    one_line_naming(str(caught.value), path)
    assert "writable" in str(caught.value)


def test_a_store_locked_by_another_process(tmp_path):
    path = tmp_path / "responses.sqlite3"
    ResponseStore(path).close()
    # Another run's write lock, taken by a connection of this process: SQLite locks the file between
    # connections, in one process or several, so no second Python is needed to hold it.
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError) as caught:
            ResponseStore(path, lock_wait=0.3)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    one_line_naming(str(caught.value), path)
    assert "locked by another process" in str(caught.value)


# -- the store during a run: every failure resolves the sample, none is silent ----------------------


def test_rows_that_are_not_completions_are_asked_again_and_reported(tmp_path):
    path = tmp_path / "r.sqlite3"
    with FakeServer(tgi_handler(upper)) as server:
        with running(server.url, ResponseStore(path)) as first:
            assert all(isinstance(r, Outcome) for r in answers(first, prompts(40)))
        conn = sqlite3.connect(path)
        conn.execute("UPDATE responses SET completion = '{\"text\": \"trunc' WHERE rowid % 4 = 0")  # 10 rows
        conn.execute("UPDATE responses SET completion = '{\"text\": 5}' WHERE rowid = 1")  # JSON, wrong shape
        conn.commit()
        conn.close()
        before = server.count("/generate")
        with running(server.url, ResponseStore(path)) as second:
            results = answers(second, prompts(40))
        assert [r.completion.text for r in results] == [p.upper() for p in prompts(40)]  # type: ignore[union-attr]
        assert server.count("/generate") - before == 11 == second.bad_rows == second.sent  # the bad rows, only
        assert all(str(path) in m and "asked again" in m for m in second.store_errors)
        with running(server.url, ResponseStore(path)) as third:  # the rows were replaced
            answers(third, prompts(40))
        assert server.count("/generate") - before == 11 and third.from_store == 40


class _FailingStore(NullStore):
    """A store whose every read, lease and write fails (a page gone bad, the disk gone away)."""

    def get(self, key):
        raise StoreError("The response store x.sqlite3 cannot be used: reading failed (database disk image is malformed)")

    def claim_many(self, keys, lease, *, since=float("-inf")):
        raise sqlite3.DatabaseError("database disk image is malformed")

    def put_many(self, answers, lease=None):
        raise OSError(28, "No space left on device")


def test_a_store_failing_mid_run_costs_no_answer_and_is_reported():
    with FakeServer(tgi_handler(upper)) as server, running(server.url, _FailingStore()) as s:
        results = answers(s, prompts(10))
    assert [r.completion.text for r in results] == [p.upper() for p in prompts(10)]  # type: ignore[union-attr]
    assert server.count("/generate") == 10 and s.store_error_count == 30
    assert any("No space left" in m for m in s.store_errors) and any("malformed" in m for m in s.store_errors)
    assert s.stats()["store"]["errors"] == 30


def test_a_store_write_locked_mid_run_is_counted_not_silent(tmp_path):
    path = tmp_path / "r.sqlite3"
    store = ResponseStore(path, busy_timeout=0.2)
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with FakeServer(tgi_handler(upper)) as server, running(server.url, store) as s:
            results = answers(s, prompts(5))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert all(isinstance(r, Outcome) for r in results) and server.count("/generate") == 5
    assert s.store_error_count >= 5 and any("locked" in m for m in s.store_errors)


def test_a_lone_surrogate_reply_is_stored_and_read_back_exactly(tmp_path):
    reply = b'{"generated_text": "fever \\ud800 noted", "details": {"finish_reason": "length", "generated_tokens": 3}}'
    path = tmp_path / "r.sqlite3"
    with FakeServer(tgi_handler(lambda body, n: (200, {"Content-Type": "application/json"}, reply))) as server:
        with running(server.url, ResponseStore(path)) as first:
            (sent,) = answers(first, ["x"])
        with running(server.url, ResponseStore(path)) as second:
            (stored,) = answers(second, ["x"])
        assert server.count("/generate") == 1
    assert isinstance(sent, Outcome) and isinstance(stored, Outcome)
    assert sent.completion.text == stored.completion.text == "fever \ud800 noted"
    assert first.store_error_count == 0 and stored.source == "store"
    shown = utf8_safe(stored.completion.text)  # what reports and the terminal write
    assert shown == "fever \\ud800 noted" and shown.encode("utf-8")


# -- the server in trouble: stop early, adapt ----------------------------------------------------------


def test_a_server_failing_everything_after_answers_stops_the_run_within_a_bound():
    def generate(body, n):
        return upper(body, n) if body["inputs"].startswith("ok") else (503, {}, {"error": "Service Unavailable"})

    with FakeServer(tgi_handler(generate, max_concurrent=16)) as server, running(server.url) as s:
        assert all(isinstance(r, Outcome) for r in answers(s, prompts(20, "ok")))
        results = answers(s, prompts(200))
        received = server.count("/generate") - 20
    assert all(isinstance(r, EndpointError) for r in results)
    # Bounded: one window of failed tries, those of one retry budget, and what was on the wire when it stopped
    # (unstopped, 200 samples would take 600 tries).
    assert received <= WINDOW + TRIES_IN_ONE_BUDGET + 2 * 16, received
    assert s.broken is not None and "kept failing" in s.broken and "no further requests were sent" in s.broken
    # Honest counts: what reached the server, and what was never sent (said so in its message).
    stats = s.stats()
    assert received <= s.tries - 20 and stats["not_sent"] + s.failed == 200
    not_sent = [r for r in results if str(r).startswith("not sent, because the server kept failing")]
    assert len(not_sent) == stats["not_sent"] >= 200 - received  # each sample tried reached the server
    assert all(str(r).startswith(("not sent, because", "tried once, then")) for r in results)


def test_a_server_that_never_answers_stops_the_run_within_a_bound():
    release = threading.Event()

    def generate(body, n):
        release.wait(10)
        return DROP

    # The handlers are let go once the client has given up, before the server waits for its threads to end.
    with FakeServer(tgi_handler(generate, max_concurrent=8)) as server:
        try:
            with running(server.url, timeout=0.1) as s:
                results = answers(s, prompts(100))
                received = server.count("/generate")
        finally:
            release.set()
    assert all(isinstance(r, EndpointError) for r in results)
    assert received <= WINDOW + 2 * 8, received
    assert s.broken is not None and "--clue-request-timeout" in s.broken


# -- the breaker: a failure rate in completion order, outages stopped, noise ridden out ------------------


def _failing(rate: float, seed: int) -> Any:
    """A server whose every request received is one draw: HTTP 500 with probability `rate`."""
    draws = random.Random(seed)
    lock = threading.Lock()

    def generate(body: Any, n: int) -> Any:
        with lock:
            fail = draws.random() < rate
        return (500, {}, {"error": "internal error", "error_type": "generation"}) if fail else upper(body, n)

    return generate


@pytest.mark.parametrize("in_flight", [1, 16, 64])
@pytest.mark.parametrize("rate", [0.05, 0.20, 0.50])
def test_a_server_failing_a_fraction_of_requests_finishes_the_run(rate, in_flight):
    """5% and 20% finish, each failed sample with its own error (a 500 is the server failing that request:
    not retried); 50% finishes too (documented): 36 failed tries in a window of 40 are about 1e-7 likely
    per window at 50%."""
    n = 300
    with FakeServer(tgi_handler(_failing(rate, seed=int(rate * 100) + in_flight), max_concurrent=in_flight)) as server, \
            running(server.url) as s:
        results = answers(s, prompts(n))
        received = server.count("/generate")
    assert s.broken is None, s.broken
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == s.failed and s.not_sent == 0 and s.sent + s.failed == n
    assert all("HTTP 500" in str(e) and str(e).startswith("POST /generate failed") for e in errors)
    # Every try counted, failures and answers alike: each sample reached the server once (a 500 is not retried),
    # and a try that never reached it (a pooled connection the server had just closed, under load) was retried.
    assert received == n and s.tries == received + s.retries, (received, s.tries, s.retries)
    assert len(errors) <= n * (rate + 0.1)


@pytest.mark.parametrize("in_flight", [1, 16, 64])
@pytest.mark.parametrize("rate", [0.95, 1.0])
def test_a_server_failing_nearly_everything_stops_early_with_a_true_message(rate, in_flight):
    n = 400
    with FakeServer(tgi_handler(_failing(rate, seed=7 + in_flight), max_concurrent=in_flight)) as server, \
            running(server.url) as s:
        results = answers(s, prompts(n))
        received = server.count("/generate")
        failed_received = received - s.sent
    assert s.broken is not None and "kept failing" in s.broken and "no further requests were sent" in s.broken
    assert s.not_sent > n / 2 and received < n  # stopped early: most samples were never sent
    match = re.search(r"(\d+) of the last (\d+) tries failed \((\d+)%\)", s.broken)
    assert match is not None, s.broken
    bad, window, percent = map(int, match.groups())
    assert window == WINDOW and bad >= 0.9 * window and percent == round(100 * bad / window)
    assert bad <= failed_received  # true: the server did fail at least that many tries
    assert all(isinstance(r, BaseException) for r in results if not isinstance(r, Outcome))


UNUSABLE = {
    "html": (200, {"Content-Type": "text/html"}, b"<!DOCTYPE html><html><body>Sign in</body></html>", "an HTML page"),
    "not-json": (200, {"Content-Type": "text/plain"}, b"OK", "not JSON"),
    "wrong-shape": (200, {}, {"result": "fine"}, "no generated_text"),
    "empty": (200, {}, b"", "an empty body"),
    "sse": (200, {"Content-Type": "text/event-stream"},
            b'data: {"token": {"text": "a"}}\n\ndata: [DONE]\n\n', "an event stream (SSE)"),
}


@pytest.mark.parametrize("kind", sorted(UNUSABLE))
def test_a_server_whose_every_answer_is_unusable_stops_the_run(kind):
    status, headers, body, said = UNUSABLE[kind]
    with FakeServer(tgi_handler(lambda b, n: (status, headers, body), max_concurrent=16)) as server, \
            running(server.url) as s:
        results = answers(s, prompts(500))
        received = server.count("/generate")
    assert all(isinstance(r, EndpointError) for r in results)
    assert received <= WINDOW + TRIES_IN_ONE_BUDGET + 3 * 16, received  # not 1,500 tries for 500 samples
    assert s.broken is not None and "cannot be used" in s.broken and said in s.broken, s.broken
    assert s.not_sent >= 500 - received  # every sample tried reached the server: the rest were never sent


def test_sustained_429_with_two_slots_all_samples_finish_by_adapting():
    slots = threading.BoundedSemaphore(2)

    def generate(body, n):
        if not slots.acquire(blocking=False):
            return OVERLOADED
        try:
            time.sleep(0.005)
            return upper(body, n)
        finally:
            slots.release()

    policy = RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.1)
    # The server reports no slot limit: the run starts from the default and adapts.
    with FakeServer(tgi_handler(generate, max_concurrent=None)) as server, running(server.url, retry=policy) as s:
        results = answers(s, prompts(60))
        received = server.count("/generate")
    assert all(isinstance(r, Outcome) for r in results), [r for r in results if not isinstance(r, Outcome)][:1]
    concurrency = s.stats()["concurrency"]
    assert concurrency["start"] == 64 and concurrency["min"] <= 4 and concurrency["decreases"] >= 3
    assert received < 4 * 60 and s.broken is None


def test_429_forever_gives_up_once_and_suggests_concurrency():
    with FakeServer(tgi_handler(lambda body, n: OVERLOADED, max_concurrent=None)) as server, running(server.url) as s:
        results = answers(s, prompts(200))
    assert all(isinstance(r, EndpointError) for r in results)
    assert s.broken is not None and "--clue-concurrency" in s.broken
    not_sent = {str(r) for r in results if str(r).startswith("not sent")}
    assert len(not_sent) == 1 and s.stats()["not_sent"] > 0  # one message, not one per sample


def _replica(dead: threading.Event, delay: float = 0.003) -> Any:
    def generate(body, n):
        if dead.is_set():
            return DROP
        time.sleep(delay)
        return upper(body, n)

    return tgi_handler(generate, health=lambda: DROP if dead.is_set() else (200, {}, b""))


def test_a_replica_dying_mid_run_costs_no_sample():
    b = FakeServer(_replica(threading.Event()))
    a = FakeServer(lambda *request: None)

    def generate_then_die(body, n):
        if a.count("/generate") >= 25:
            threading.Thread(target=a.stop).start()  # the process goes away: connections refused
            return DROP
        return upper(body, n)

    a.handler = tgi_handler(generate_then_die)
    with a, b, running([a.url, b.url], concurrency=8) as s:
        results = answers(s, prompts(200))
    assert all(isinstance(r, Outcome) for r in results)
    assert [r.completion.text for r in results] == [p.upper() for p in prompts(200)]  # type: ignore[union-attr]
    assert s.replica_events and "taken out of rotation" in s.replica_events[0]
    assert b.count("/generate") >= 150 and s.broken is None and s.rerouted > 0


def test_a_replica_back_to_health_returns_to_rotation():
    dead = threading.Event()
    with FakeServer(_replica(dead)) as a, FakeServer(_replica(threading.Event())) as b:
        with running([a.url, b.url], concurrency=4) as s:
            dead.set()
            assert all(isinstance(r, Outcome) for r in answers(s, prompts(40)))
            assert not s.stats()["replicas"][0]["live"]
            dead.clear()
            deadline = time.monotonic() + HANG_GUARD
            while not s.stats()["replicas"][0]["live"] and time.monotonic() < deadline:
                time.sleep(0.05)
            before = a.count("/generate")
            assert all(isinstance(r, Outcome) for r in answers(s, prompts(40, "q")))
        assert a.count("/generate") > before  # back in rotation
    assert any("back in rotation" in e for e in s.replica_events)


# -- two runs on one cache ---------------------------------------------------------------------------


def _counting(delay: float) -> tuple[Any, Counter[str]]:
    asked: Counter[str] = Counter()
    lock = threading.Lock()

    def generate(body, n):
        with lock:
            asked[body["inputs"]] += 1
        time.sleep(delay)
        return upper(body, n)

    return tgi_handler(generate), asked


def test_two_schedulers_sharing_one_cache_send_each_request_once(tmp_path):
    path = tmp_path / "r.sqlite3"
    handler, asked = _counting(0.02)
    with FakeServer(handler) as server:
        with running(server.url, ResponseStore(path), concurrency=4) as a, \
                running(server.url, ResponseStore(path), concurrency=4) as b:
            futures = [s.submit(gen(p)) for p in prompts(30) for s in (a, b)]
            results = resolve(futures)
    assert all(isinstance(r, Outcome) for r in results)
    assert set(asked.values()) == {1} and len(asked) == 30
    assert a.sent + b.sent == 30 and a.from_other_runs + b.from_other_runs > 0


_OTHER_RUN = """
import json, sys
from clue_checks.endpoint.retry import RetryPolicy
from clue_checks.endpoint.scheduler import Scheduler
from clue_checks.endpoint.store import ResponseStore
from clue_checks.endpoint.types import GenerationParams, Request
url, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = Scheduler([url], ResponseStore(path), concurrency=4, retry=RetryPolicy(max_attempts=3, base_delay=0.01))
s.start()
print("ready", flush=True)
sys.stdin.readline()
futures = [s.submit(Request("generate", GenerationParams(5), prompt=f"p{i}")) for i in range(n)]
texts = [s.wait(f).completion.text for f in futures]
s.close()
print(json.dumps({"texts": texts, "sent": s.sent}), flush=True)
"""


@pytest.mark.slow  # another process is the point
def test_two_processes_sharing_one_cache_send_each_request_once(tmp_path):
    path = tmp_path / "r.sqlite3"
    ResponseStore(path).close()
    handler, asked = _counting(0.02)
    with FakeServer(handler) as server:
        other = subprocess.Popen([sys.executable, "-c", _OTHER_RUN, server.url, str(path), "40"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                 env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        try:
            assert other.stdout is not None and other.stdin is not None
            assert other.stdout.readline().strip() == "ready"
            with running(server.url, ResponseStore(path), concurrency=4) as mine:
                other.stdin.write("go\n")
                other.stdin.flush()
                results = answers(mine, prompts(40))
            theirs = json.loads(other.stdout.readline())
        finally:
            other.kill()
            other.wait()
    assert [r.completion.text for r in results] == theirs["texts"] == [p.upper() for p in prompts(40)]  # type: ignore[union-attr]
    assert set(asked.values()) == {1} and len(asked) == 40
    assert mine.sent + theirs["sent"] == 40


# -- no leaks, honest messages -------------------------------------------------------------------------

KEY = "sk-live-0123456789abcdef"
TENANT = "ward-7-tenant-token"


def _echoing(method: str, path: str, body: Any, count: int, server: FakeServer) -> Any:
    headers = server.requests[count - 1].headers
    echo = {"error": f"invalid credentials: Authorization: {headers.get('authorization')}",
            "received": {"authorization": headers.get("authorization"), "x-tenant": headers.get("x-tenant")}}
    if path in ("/health", "/info", "/v1/models"):
        return tgi_handler(upper)(method, path, body, count)
    return 401, {"Location": f"http://127.0.0.1/login?token={KEY}"}, echo


def test_an_echoed_api_key_appears_in_no_message():
    server = FakeServer(lambda *a: None)
    server.handler = lambda method, path, body, count: _echoing(method, path, body, count, server)
    with server, running(server.url, api_key=KEY, headers={"X-Tenant": TENANT}) as s:
        results = answers(s, prompts(8))
        assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"  # it was sent
        assert server.requests[-1].headers["x-tenant"] == TENANT
    texts = [str(r) for r in results] + [repr(r.server_message) for r in results if isinstance(r, EndpointError)]
    texts += [s.broken or "", json.dumps(s.stats())]
    assert all(isinstance(r, EndpointError) for r in results) and "[REDACTED]" in texts[0]
    assert not any(KEY in t or TENANT in t for t in texts)


def test_an_echoed_api_key_at_discovery_appears_in_no_message():
    def handler(method, path, body, count):
        return 401, {}, {"error": f"bad key {KEY}"}

    with FakeServer(handler) as server:
        s = Scheduler([server.url], NullStore(), api_key=KEY, http=HTTP["name"])
        with pytest.raises(EndpointUnavailable) as caught:
            s.start()
        s.close()
    assert KEY not in str(caught.value) and "[REDACTED]" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no httpx chain to print


def test_https_to_a_plain_http_server_says_so():
    import asyncio

    with FakeServer(tgi_handler(upper)) as server:
        url = server.url.replace("http://", "https://")
        with pytest.raises(EndpointUnavailable) as caught:
            asyncio.run(EndpointClient(url, http=HTTP["name"]).discover())
    message = str(caught.value)
    assert "TLS handshake failed" in message and "try http:// instead of https://" in message
    assert "Is the model server running" not in message


def test_a_redirect_says_where_to():
    def handler(method, path, body, count):
        return 308, {"Location": "/api" + path}, b""

    import asyncio

    with FakeServer(handler) as server:
        with pytest.raises(EndpointUnavailable) as caught:
            asyncio.run(EndpointClient(server.url, http=HTTP["name"]).discover())
        assert f"redirects to {server.url}/api/health" in str(caught.value)
        assert f"give --model-endpoint={server.url}/api " in str(caught.value)
        assert server.count("/api/health") == 0  # not followed: the key would go wherever it points


def test_a_redirect_on_a_request_says_where_to():
    with FakeServer(tgi_handler(lambda body, n: (301, {"Location": "https://llm.example.org/generate"}, b""))) as server:
        with running(server.url) as s:
            (error,) = answers(s, ["x"])
    assert isinstance(error, EndpointError) and "redirects to https://llm.example.org/generate" in str(error)
    assert server.count("/generate") == 1


def test_a_tiny_request_timeout_is_called_too_small_not_a_loading_server():
    import asyncio

    release = threading.Event()

    def slow_health():
        release.wait(0.05)
        return 200, {}, b""

    try:
        with FakeServer(tgi_handler(upper, health=slow_health)) as server:
            with pytest.raises(EndpointUnavailable) as caught:
                asyncio.run(EndpointClient(server.url, timeout=0.000001, startup_wait=0.3, http=HTTP["name"]).discover())
    finally:
        release.set()
    message = str(caught.value)
    assert "--clue-request-timeout=1e-06 s is shorter than" in message and "loading" not in message


def test_a_wait_is_bounded_even_if_nothing_progresses():
    release = threading.Event()

    def generate(body, n):
        release.wait(5)
        return upper(body, n)

    try:
        with FakeServer(tgi_handler(generate)) as server, running(server.url, timeout=30) as s:
            s.stall_seconds = 0.4
            future = s.submit(gen("x"))
            with pytest.raises(EndpointError, match="no request has progressed"):
                s.wait(future, poll=0.1)
    finally:
        release.set()
