"""The scheduler: everything in flight at once, each request sent once, stored on arrival."""

from __future__ import annotations

import concurrent.futures

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


def test_a_duplicate_asked_after_the_answer_is_shared_not_sent_and_no_future_is_kept(store):
    handler, _ = tgi()
    with FakeServer(handler) as server:
        s = Scheduler([server.url], store, concurrency=4)
        s.start()
        try:
            first = s.submit(gen("p0")).result(10)
            again = s.submit(gen("p0")).result(10)
        finally:
            s.close()
    assert server.count("/generate") == 1 and (s.sent, s.shared) == (1, 1)
    assert (first.source, again.source) == ("sent", "shared") and again.completion == first.completion
    assert not any(isinstance(kept, concurrent.futures.Future) for kept in s._futures.values())


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
        futures = [s.submit(gen(f"after{i}")) for i in range(100)]
        errors = [f.exception(30) for f in futures]
        assert all(isinstance(e, EndpointError) for e in errors)
        assert s.broken is not None and "stopped answering" in s.broken
        # One window of tries (two per request), then the rest were never sent.
        assert sum(isinstance(e, EndpointUnavailable) for e in errors) >= 100 - WINDOW // 2 - 2
    finally:
        s.close()


def test_a_store_that_cannot_write_does_not_cost_the_answer(tmp_path):
    class BrokenStore(NullStore):
        def put_many(self, answers, lease=None):
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


# -- the in-flight limit (AIMD) ------------------------------------------------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from clue_checks.endpoint.breaker import WINDOW, Breaker  # noqa: E402
from clue_checks.endpoint.concurrency import AdaptiveLimit  # noqa: E402


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_overload_halves_once_per_round_and_a_full_round_raises_it():
    import asyncio

    async def scenario():
        limit = AdaptiveLimit(16, 16)
        epochs = [await limit.acquire() for _ in range(16)]
        for epoch in epochs[:8]:  # eight 429s from one round of tries: one halving, not eight
            limit.release(epoch, "overload")
        assert limit.limit == 8 and limit.decreases == 1
        for epoch in epochs[8:]:  # answers to tries sent before the halving prove nothing about 8
            limit.release(epoch, "ok")
        assert limit.limit == 8
        for epoch in [await limit.acquire() for _ in range(8)]:
            limit.release(epoch, "ok")
        assert limit.limit == 12  # a full round at 8: halfway back towards the window that met the overload
        return limit

    limit = asyncio.run(scenario())
    assert (limit.low, limit.high, limit.peak) == (8, 16, 16)


def test_the_limit_never_goes_below_one_and_waiters_get_their_turn_in_order():
    import asyncio

    async def scenario():
        limit = AdaptiveLimit(2, 2)
        first = await limit.acquire()
        second = await limit.acquire()
        order: list[int] = []

        async def waiter(i: int) -> None:
            epoch = await limit.acquire()
            order.append(i)
            limit.release(epoch, "ok")

        tasks = [asyncio.create_task(waiter(i)) for i in range(5)]
        await asyncio.sleep(0)
        assert order == []  # both slots taken
        limit.release(first, "overload")
        limit.release(second, "overload")  # same round: no second halving
        for _ in range(3):
            epoch = await limit.acquire()
            limit.release(epoch, "overload")  # a new round each time
        await asyncio.gather(*tasks)
        return limit, order

    limit, order = asyncio.run(scenario())
    assert limit.low == 1 and order == [0, 1, 2, 3, 4]


def test_retry_after_pauses_every_new_try():
    import asyncio

    async def scenario():
        now = [100.0]
        limit = AdaptiveLimit(4, 4, clock=lambda: now[0])  # its time moves only when the test moves it
        epoch = await limit.acquire()
        limit.release(epoch, "overload", retry_after=0.2)
        waiting = asyncio.ensure_future(limit.acquire())
        await asyncio.sleep(0.3)  # its wake-up fires; on its clock the pause has not ended
        paused = not waiting.done()
        now[0] += 0.2
        await asyncio.wait_for(waiting, 30)  # the next wake-up admits it (30 s: a hang guard)
        return paused, limit.in_flight

    assert asyncio.run(scenario()) == (True, 1)


def test_a_waiter_refused_admission_gets_the_error():
    import asyncio

    async def scenario():
        limit = AdaptiveLimit(1, 1)
        held = await limit.acquire()
        stopped = {"now": False}

        def admit():
            if stopped["now"]:
                raise EndpointUnavailable("stopped", url="u", kind="stopped")

        task = asyncio.create_task(limit.acquire(admit))
        await asyncio.sleep(0)
        stopped["now"] = True
        limit.recheck()
        with pytest.raises(EndpointUnavailable):
            await task
        limit.release(held, "ok")
        return limit.in_flight

    assert asyncio.run(scenario()) == 0


@given(start=st.integers(1, 300), ceiling=st.integers(1, 300),
       signals=st.lists(st.sampled_from(["ok", "overload", "failure"]), max_size=200))
def test_the_limit_stays_between_one_and_the_ceiling(start, ceiling, signals):
    limit = AdaptiveLimit(start, ceiling, clock=Clock())
    limit._wake = lambda: None  # no event loop here: only the arithmetic
    for signal in signals:
        limit.in_flight += 1
        limit.release(limit.epoch, signal)
        assert 1 <= limit.limit <= max(1, ceiling)
    assert limit.low <= limit.limit <= limit.high <= max(1, ceiling)


# -- when the run stops ---------------------------------------------------------------------------------


def _failure(kind: str, status: int | None = None, message: str | None = None) -> EndpointError:
    return EndpointError("POST /generate failed", url="http://h/generate", status=status, server_message=message,
                         retryable=kind != "refused", kind=kind)


def test_the_breaker_stops_on_a_failure_rate_held_for_a_request_budget():
    clock = Clock()
    breaker = Breaker(RetryPolicy(max_attempts=2, base_delay=1.0), clock)  # budget: 1 s
    for _ in range(WINDOW + 10):  # a burst: the rate is there, but it has not lasted
        assert not breaker.tried(_failure("unavailable", 503), 8)
    clock.now += 1.0
    assert breaker.tried(_failure("unavailable", 503), 8)
    reason = breaker.reason
    assert reason is not None and "kept failing" in reason and "no further requests" in reason
    assert f"{WINDOW} of the last {WINDOW} tries failed (100%)" in reason


@pytest.mark.parametrize("failures_per_20", [1, 4, 10])
def test_a_server_failing_a_fraction_of_tries_never_trips_the_breaker(failures_per_20):
    clock = Clock()
    breaker = Breaker(RetryPolicy(max_attempts=2, base_delay=1.0), clock)
    for i in range(5000):  # evenly spread failures, any order of completion: only the rate matters
        clock.now += 0.1
        failure = _failure("server", 500) if i % 20 < failures_per_20 else None
        assert not breaker.tried(failure, 64)
    assert breaker.reason is None


def test_the_breaker_counts_unusable_answers_and_says_so():
    clock = Clock()
    breaker = Breaker(RetryPolicy(max_attempts=2, base_delay=1.0), clock)
    tripped = False
    for i in range(200):
        clock.now += 0.1
        tripped = breaker.tried(_failure("malformed", 200) if i % 20 else None, 8) or tripped
    assert tripped and breaker.reason is not None and "cannot be used" in breaker.reason
    assert "(95%)" in breaker.reason


def test_refusals_are_answers_for_the_rate():
    clock = Clock()
    breaker = Breaker(RetryPolicy(max_attempts=2, base_delay=1.0), clock)
    for _ in range(500):
        clock.now += 0.1
        assert not breaker.tried(_failure("refused", 400, "too long"), 8)


def test_refusals_stop_the_run_only_before_any_answer():
    before = Breaker(RetryPolicy())
    assert [before.gave_up(_failure("refused", 400, "no system role"), 8) for _ in range(5)][-1]
    after = Breaker(RetryPolicy())
    after.tried(None, 8)
    assert not any(after.gave_up(_failure("refused", 400, "too long"), 8) for _ in range(20))
