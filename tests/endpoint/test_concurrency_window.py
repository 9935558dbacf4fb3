"""The in-flight window (`concurrency.Window`): it finds the server's slot limit and stays there.

Driven in virtual time (`window_model`): no server, no wall clock, the same result every run.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from clue_checks.endpoint.concurrency import PROBE_AFTER_ROUNDS, AdaptiveLimit, Window
from clue_checks.endpoint.retry import RetryPolicy
from clue_checks.endpoint.routing import limit_for
from clue_checks.endpoint.types import EndpointInfo
from window_model import Clock, LimitModel, simulate, time_at

SLOTS = 16


def settled(sizes: list[int], allowed: set[int]) -> int:
    """The index of the first event after which the window only takes `allowed` sizes."""
    outside = [i for i, size in enumerate(sizes) if size not in allowed]
    return outside[-1] + 1 if outside else 0


def test_from_far_above_the_window_comes_down_to_the_servers_limit_and_stays():
    window = Window(128, 128)
    trace = simulate(window, 3000, lambda now: SLOTS)
    start = settled(trace.sizes, {SLOTS, SLOTS + 1})
    assert start <= 600  # three halvings, then a few probes between 16 and the last overload
    assert time_at(trace, SLOTS, since=trace.times[start]) >= 0.95  # at 17 only while probing
    assert trace.busy_slot_seconds / trace.finished_at / SLOTS >= 0.97  # the server's slots stay busy
    assert trace.sizes[-1] == SLOTS


def test_from_below_the_window_climbs_to_the_servers_limit():
    window = Window(1, 128)
    trace = simulate(window, 3000, lambda now: SLOTS)
    assert trace.sizes.index(SLOTS) <= 40  # doubling per round while no overload is known
    start = settled(trace.sizes, {SLOTS, SLOTS + 1})
    assert start <= 400
    assert time_at(trace, SLOTS, since=trace.times[start]) >= 0.95
    assert trace.busy_slot_seconds / trace.finished_at / SLOTS >= 0.97


def test_a_known_limit_is_where_the_window_starts_and_stays():
    window = Window(SLOTS, 128, known_limit=SLOTS)
    trace = simulate(window, 3000, lambda now: SLOTS)
    assert set(trace.sizes) == {SLOTS, SLOTS + 1}  # a probe one above now and then, nothing else
    assert trace.sizes[:SLOTS * PROBE_AFTER_ROUNDS - 1] == [SLOTS] * (SLOTS * PROBE_AFTER_ROUNDS - 1)
    assert trace.refusals <= 10  # one per probe, and the probes grow rarer
    assert time_at(trace, SLOTS) >= 0.97


def test_an_overload_cuts_back_to_the_last_good_window_not_by_half():
    window = Window(SLOTS, 128, known_limit=SLOTS)
    for _ in range(PROBE_AFTER_ROUNDS):
        full_round(window)
    assert window.size == SLOTS + 1  # probing one more slot
    ticket = window.sent(SLOTS + 1)
    window.overloaded(ticket, now=0.0)
    assert window.size == SLOTS and window.good == SLOTS and window.bad == SLOTS + 1


def test_a_server_whose_limit_changes_is_followed():
    def slots(now: float) -> int:
        return 16 if now < 100 else 8 if now < 200 else 24

    window = Window(16, 128)
    trace = simulate(window, 16000, slots)
    assert trace.finished_at > 250
    for begin, end, limit in ((60, 100, 16), (160, 200, 8), (trace.finished_at - 40, trace.finished_at, 24)):
        sizes = [s for s, t in zip(trace.sizes, trace.times) if begin <= t < end]
        assert sizes and min(sizes) >= limit and max(sizes) <= limit + 1, (limit, sorted(set(sizes)))


def test_the_window_never_exceeds_the_users_cap():
    window = Window(4, 10)
    trace = simulate(window, 500, lambda now: 64)
    assert max(trace.sizes) == 10 and trace.sizes[-1] == 10 and trace.refusals == 0


def full_round(window: Window, latency: float = 1.0) -> None:
    """One full window of tries, all answered after `latency` seconds."""
    size = window.size
    tickets = [window.sent(i + 1) for i in range(size)]
    for ticket in tickets:
        window.answered(ticket, latency)


def test_latency_past_the_knee_stops_the_raise_without_an_overload():
    window = Window(4, 256)
    sizes = []
    for _ in range(60):  # a server that queues above 16 slots: latency grows with the window past 16
        full_round(window, latency=max(1.0, window.size / SLOTS))
        sizes.append(window.size)
    assert max(sizes) <= 3 * SLOTS  # raises that showed the knee, each cut back at once
    assert SLOTS <= window.size <= 24 and window.bad is not None  # smaller steps are not judged
    assert window.decreases >= 2 and window.paused_until == 0.0  # cut back, never paused


def test_answers_to_tries_sent_before_a_cut_do_not_raise_the_window():
    window = Window(16, 16)
    tickets = [window.sent(i + 1) for i in range(16)]
    for ticket in tickets[:8]:  # eight 429s from one round of tries: one cut, not eight
        window.overloaded(ticket, now=0.0)
    assert window.size == 8 and window.decreases == 1
    for ticket in tickets[8:]:
        window.answered(ticket, 1.0)
    assert window.size == 8
    full_round(window)
    assert window.size == 12  # halfway back towards the window that met the overload


events = st.lists(st.tuples(st.sampled_from(["send", "ok", "overload"]), st.integers(0, 50),
                            st.floats(0.0, 5.0), st.one_of(st.none(), st.floats(0.0, 3.0))), max_size=300)


@given(start=st.integers(1, 300), ceiling=st.integers(1, 300), known=st.one_of(st.none(), st.integers(1, 300)),
       events=events)
def test_the_window_stays_between_one_and_the_cap(start, ceiling, known, events):
    window = Window(start, ceiling, known_limit=known)
    tickets: list[int] = []
    in_flight, now = 0, 0.0
    for kind, pick, step, retry_after in events:
        now += step
        if kind == "send" or not tickets:
            in_flight += 1
            tickets.append(window.sent(in_flight))
        else:
            ticket = tickets.pop(pick % len(tickets))
            in_flight -= 1
            if kind == "ok":
                window.answered(ticket, step)
            else:
                window.overloaded(ticket, now, retry_after)
        assert 1 <= window.size <= max(1, ceiling)
        assert window.bad is None or window.good < window.bad


def test_a_concurrency_above_the_servers_limit_starts_at_that_limit():
    info = EndpointInfo("http://tgi", "tgi", "m", max_concurrent_requests=16)
    limit, source = limit_for([info], 128, 1.0, RetryPolicy())
    assert (limit.start, limit.ceiling, limit.window.bad, source) == (16, 128, 17, "--clue-concurrency")
    lower = limit_for([info], 8, 1.0, RetryPolicy())[0]
    assert (lower.start, lower.ceiling) == (8, 8)
    halves = limit_for([info], 128, 0.5, RetryPolicy())[0]  # one of two xdist workers
    assert (halves.start, halves.ceiling, halves.window.bad) == (8, 64, 9)
    unknown = limit_for([dataclasses.replace(info, max_concurrent_requests=None)], 128, 1.0, RetryPolicy())[0]
    assert (unknown.start, unknown.ceiling, unknown.window.bad) == (128, 128, None)
    reported = limit_for([info], None, 1.0, RetryPolicy())[0]
    assert (reported.start, reported.ceiling, reported.window.bad) == (16, 16, None)


@settings(max_examples=25, deadline=None)
@given(slots=st.integers(1, 48), start=st.integers(1, 128), cap=st.integers(1, 128))
def test_any_start_settles_at_the_servers_limit_or_the_cap(slots, start, cap):
    window = Window(start, cap)
    trace = simulate(window, 1500, lambda now: slots)
    target = min(slots, cap)
    assert trace.sizes[-1] == target or (trace.sizes[-1] == target + 1 and cap > slots)  # at most mid-probe
    begin = settled(trace.sizes, {target, target + 1})
    assert begin < len(trace.sizes) * 0.6
    assert time_at(trace, target, since=trace.times[begin]) >= 0.9


def test_the_adaptive_limit_applies_the_window():
    clock = Clock()
    limit = AdaptiveLimit(128, 128, clock=clock)
    trace = simulate(LimitModel(limit, clock), 3000, lambda now: SLOTS, clock)
    assert limit.limit == SLOTS and limit.low == SLOTS and limit.peak == 128 and limit.in_flight == 0
    assert trace.busy_slot_seconds / trace.finished_at / SLOTS >= 0.97


def test_repeated_overloads_pause_only_when_nothing_is_on_the_wire():
    window = Window(64, 64)
    for in_flight in (40, 20, 10):  # coming down from far above: the server is busy with the tries it took
        window.overloaded(window.sent(window.size), now=1.0, in_flight=in_flight)
    assert window.size == 8 and window.paused_until == 0.0
    lone = Window(1, 64)
    lone.overloaded(lone.sent(1), now=1.0)
    assert lone.paused_until == 0.0  # one refusal: the retry's own backoff is enough
    lone.overloaded(lone.sent(1), now=2.0)
    assert lone.paused_until > 2.0  # refused again with nothing else on the wire: the server takes nothing
