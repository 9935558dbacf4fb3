"""The scheduler: everything in flight at once, each request sent once, stored on arrival."""

from __future__ import annotations

import threading
import time

import pytest

from clue_checks.endpoint.client import RetryPolicy
from clue_checks.endpoint.scheduler import Scheduler
from clue_checks.endpoint.store import NullStore, ResponseStore
from clue_checks.endpoint.types import EndpointError, EndpointUnavailable, GenerationParams, Request

from fakes import FakeServer


def tgi(model="org/m", sha="r1", delay=0.0, max_concurrent=128, fail=None):
    state = {"in_flight": 0, "peak": 0}
    lock = threading.Lock()

    def handler(method, path, body, count):
        if path == "/health":
            return 200, {}, b""
        if path == "/info":
            return 200, {}, {"model_id": model, "model_sha": sha, "max_concurrent_requests": max_concurrent,
                             "max_input_tokens": 4000, "max_total_tokens": 4096, "router": "text-generation-router"}
        if path == "/v1/models":
            return 200, {}, {"object": "list", "data": [{"id": model, "object": "model", "owned_by": model}]}
        if path == "/generate":
            if fail and fail(body):
                return 422, {}, {"error": "Input validation error: bad", "error_type": "validation"}
            with lock:
                state["in_flight"] += 1
                state["peak"] = max(state["peak"], state["in_flight"])
            time.sleep(delay)
            with lock:
                state["in_flight"] -= 1
            return 200, {}, {"generated_text": body["inputs"].upper(), "details": {"finish_reason": "length",
                                                                                  "generated_tokens": 1}}
        return 404, {}, {"error": "no"}
    return handler, state


def gen(text: str) -> Request:
    return Request("generate", GenerationParams(5), prompt=text)


@pytest.fixture
def store(tmp_path):
    return ResponseStore(tmp_path / "r.sqlite3")


def test_all_requests_in_flight_together_and_sent_once(store):
    handler, state = tgi(delay=0.3)
    with FakeServer(handler) as server:
        s = Scheduler([server.url], store, concurrency=50)
        s.start()
        try:
            futures = [s.submit(gen(f"p{i}")) for i in range(40)] + [s.submit(gen("p0"))]
            results = [f.result(10) for f in futures]
        finally:
            s.close()
    assert [r.completion.text for r in results[:3]] == ["P0", "P1", "P2"]
    assert server.count("/generate") == 40  # the duplicate was not sent again
    assert state["peak"] >= 10  # concurrent, not sequential
    assert (s.sent, s.from_store) == (40, 0)
    # The duplicate has the same answer and is counted as shared, so per-sample counts add up.
    assert results[0].source == "sent" and results[-1].source == "shared"
    assert results[-1].completion == results[0].completion


def test_concurrency_bound_is_respected(store):
    handler, state = tgi(delay=0.1)
    with FakeServer(handler) as server:
        s = Scheduler([server.url], store, concurrency=3)
        s.start()
        try:
            for f in [s.submit(gen(f"p{i}")) for i in range(12)]:
                f.result(10)
        finally:
            s.close()
    assert state["peak"] <= 3


def test_default_concurrency_comes_from_the_server_and_worker_share(store):
    handler, _ = tgi(max_concurrent=10)
    with FakeServer(handler) as server:
        s = Scheduler([server.url], store, concurrency_share=0.5)
        s.start()
        s.close()
    assert s.concurrency == 5


def test_second_run_answers_from_the_store(store):
    handler, _ = tgi()
    with FakeServer(handler) as server:
        for _ in range(2):
            s = Scheduler([server.url], store)
            s.start()
            try:
                outcome = s.submit(gen("x")).result(10)
            finally:
                s.close()
        assert server.count("/generate") == 1
    assert outcome.source == "store" and outcome.completion.text == "X"


def test_refresh_asks_again(store):
    handler, _ = tgi()
    with FakeServer(handler) as server:
        for refresh in (False, True):
            s = Scheduler([server.url], store, refresh=refresh)
            s.start()
            s.submit(gen("x")).result(10)
            s.close()
        assert server.count("/generate") == 2


def test_replicas_share_the_load(store):
    h1, _ = tgi(delay=0.2)
    h2, _ = tgi(delay=0.2)
    with FakeServer(h1) as a, FakeServer(h2) as b:
        s = Scheduler([a.url, b.url], store, concurrency=8)
        s.start()
        try:
            for f in [s.submit(gen(f"p{i}")) for i in range(16)]:
                f.result(10)
        finally:
            s.close()
        assert a.count("/generate") >= 4 and b.count("/generate") >= 4
        assert a.count("/generate") + b.count("/generate") == 16


def test_endpoints_serving_different_models_are_refused(store):
    h1, _ = tgi(model="org/a")
    h2, _ = tgi(model="org/b")
    with FakeServer(h1) as a, FakeServer(h2) as b:
        s = Scheduler([a.url, b.url], store)
        with pytest.raises(EndpointUnavailable, match="replicas of one model"):
            s.start()
        s.close()


def test_a_failed_request_fails_only_its_future(store):
    handler, _ = tgi(fail=lambda body: body["inputs"] == "bad")
    with FakeServer(handler) as server:
        s = Scheduler([server.url], store, retry=RetryPolicy(max_attempts=2, base_delay=0.01))
        s.start()
        try:
            bad, good = s.submit(gen("bad")), s.submit(gen("good"))
            assert good.result(10).completion.text == "GOOD"
            with pytest.raises(EndpointError, match="Input validation error: bad"):
                bad.result(10)
        finally:
            s.close()
    assert s.failed == 1 and len(store) == 1  # failures are not stored


def test_a_dead_endpoint_stops_the_remaining_requests_quickly(store):
    handler, _ = tgi()
    server = FakeServer(handler).start()
    s = Scheduler([server.url], store, concurrency=2,
                  retry=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02))
    s.start()
    try:
        assert s.submit(gen("before")).result(10).completion.text == "BEFORE"
        server.stop()  # the model server dies mid-run
        futures = [s.submit(gen(f"after{i}")) for i in range(40)]
        errors = [f.exception(30) for f in futures]
        assert all(isinstance(e, EndpointError) for e in errors)
        assert s.broken is not None and "stopped answering" in s.broken
        # Only the few requests in flight when the breaker tripped paid for their retries.
        assert sum(isinstance(e, EndpointUnavailable) for e in errors) >= 30
    finally:
        s.close()


def test_a_store_that_cannot_write_does_not_cost_the_answer(tmp_path):
    class BrokenStore(NullStore):
        def put(self, key, identity, request, completion, lease=None):
            raise OSError("disk full")

    handler, _ = tgi()
    with FakeServer(handler) as server:
        s = Scheduler([server.url], BrokenStore())
        s.start()
        try:
            assert s.submit(gen("x")).result(10).completion.text == "X"
        finally:
            s.close()
    # Not silent: counted, with the cause, for the terminal and the report.
    assert s.store_error_count == 1 and "storing the answer" in s.store_errors[0] and "disk full" in s.store_errors[0]
    assert s.stats()["store"]["errors"] == 1


def test_a_server_refusing_every_request_alike_stops_the_rest():
    # e.g. a chat template without a system role: the same 400 for every request, none answered
    handler, _ = tgi(fail=lambda body: True)
    with FakeServer(handler) as server:
        s = Scheduler([server.url], _NoStore(), concurrency=1)
        s.start()
        try:
            errors = [s.submit(gen(f"p{i}")).exception(30) for i in range(20)]
        finally:
            s.close()
    assert server.count("/generate") == 5  # the rest were not sent
    assert s.broken is not None and "refused the first 5 requests alike" in s.broken and "bad" in s.broken
    assert all(isinstance(e, EndpointError) for e in errors)
    assert sum(isinstance(e, EndpointUnavailable) for e in errors) == 15


def test_refusals_after_an_answer_do_not_stop_the_run():
    # Per-sample validation errors (one prompt too long) are that sample's problem, not the run's.
    handler, _ = tgi(fail=lambda body: body["inputs"] != "ok")
    with FakeServer(handler) as server:
        s = Scheduler([server.url], _NoStore(), concurrency=1)
        s.start()
        try:
            assert s.submit(gen("ok")).result(10).source == "sent"
            errors = [s.submit(gen(f"p{i}")).exception(30) for i in range(8)]
        finally:
            s.close()
    assert s.broken is None and server.count("/generate") == 9
    assert not any(isinstance(e, EndpointUnavailable) for e in errors)


_NoStore = NullStore
