"""The live progress line: its content, its pace on a terminal and in CI, and silence under -q."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from clue_checks.progress_line import LiveProgress, RunTotals, Snapshot, format_line, from_counters


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeWriter:
    def __init__(self) -> None:
        self.rewrites: list[str] = []
        self.lines: list[str] = []

    def rewrite(self, line: str, **markup: bool) -> None:
        self.rewrites.append(line)

    def write_line(self, line: str, **markup: bool) -> None:
        self.lines.append(line)


def test_line_names_every_counter_and_extrapolates_the_eta():
    snap = Snapshot(done=100, total=400, in_flight=64, answered=150, retries=3, errors=1, tokens_out=30_000)
    line = format_line(snap, elapsed=10.0)
    assert line == ("clue: 100/400 samples · 64 in flight · 15.0 req/s · 3,000 tok/s · 3 retries · 1 errors · "
                    "ETA 30s")


def test_line_before_the_first_sample_has_no_eta_and_a_finished_run_says_done():
    assert format_line(Snapshot(done=0, total=5), elapsed=3.0).endswith("ETA —")
    assert format_line(Snapshot(done=5, total=5, from_store=5), elapsed=75.0).endswith(
        "5 from store · 0 retries · 0 errors · done in 1m15s")


def test_adaptive_limit_is_shown_beside_in_flight():
    assert "16 in flight (limit 16)" in format_line(Snapshot(1, 2, in_flight=16, concurrency=16), 1.0)


@given(done=st.integers(0, 10_000), extra=st.integers(0, 10_000), elapsed=st.floats(0, 1e6))
def test_line_never_fails_and_never_shows_a_negative_eta(done, extra, elapsed):
    line = format_line(Snapshot(done=done, total=done + extra, answered=done), elapsed)
    assert line.startswith(f"clue: {done}/{done + extra} samples")
    assert "ETA -" not in line and "nan" not in line


def test_terminal_rewrites_one_line_at_most_every_interval():
    clock, writer = FakeClock(), FakeWriter()
    progress = LiveProgress(writer, lambda: Snapshot(1, 10), tty=True, quiet=False, clock=clock)
    for _ in range(5):
        progress.tick()  # no time has passed
    assert writer.rewrites == []
    clock.now += 0.25
    progress.tick()
    progress.tick()
    assert len(writer.rewrites) == 1 and writer.lines == []
    progress.finish()
    assert len(writer.rewrites) == 2 and writer.lines == [""]  # the summary starts on a fresh line


def test_ci_writes_a_plain_line_every_ci_interval():
    clock, writer = FakeClock(), FakeWriter()
    progress = LiveProgress(writer, lambda: Snapshot(1, 10), tty=False, quiet=False, ci_interval=15, clock=clock)
    for _ in range(100):
        clock.now += 1.0
        progress.tick()
    assert len(writer.lines) == 6 and writer.rewrites == []  # 100 s at one line per 15 s


def test_quiet_shows_nothing():
    clock, writer = FakeClock(), FakeWriter()
    progress = LiveProgress(writer, lambda: Snapshot(1, 10), tty=True, quiet=True, clock=clock)
    clock.now += 60
    progress.tick()
    progress.finish()
    assert writer.rewrites == [] and writer.lines == []


# -- under pytest-xdist: the controller sums each worker's latest counters --------------------------------


def counters(*, in_flight=0, limit=None, sent=0, from_store=0, retries=0, failed=0, tokens_out=0, total=10):
    """What a worker attaches to a sample report: its scheduler's `progress()` plus the selection's size."""
    return {"in_flight": in_flight, "limit": limit, "sent": sent, "from_store": from_store, "retries": retries,
            "failed": failed, "tokens_out": tokens_out, "total": total}


def test_two_workers_latest_counters_are_summed_into_one_line():
    totals = RunTotals()
    totals.update("gw0", counters(in_flight=5, limit=8, sent=3, retries=1, tokens_out=300, total=40))
    totals.update("gw1", counters(in_flight=2, limit=8, sent=1, failed=1, from_store=2, tokens_out=90, total=40))
    totals.update("gw0", counters(in_flight=4, limit=8, sent=6, retries=2, tokens_out=700, total=40))  # newer: replaces
    for _ in range(9):
        totals.sample_finished()
    snap = totals.snapshot()
    assert snap == Snapshot(done=9, total=40, in_flight=6, answered=7, from_store=2, retries=2, errors=1,
                            tokens_out=790, concurrency=16)
    assert format_line(snap, elapsed=2.0) == ("clue: 9/40 samples · 6 in flight (limit 16) · 3.5 req/s · 395 tok/s · "
                                              "2 from store · 2 retries · 1 errors · ETA 7s")


def test_a_finished_worker_has_nothing_in_flight_and_a_crashed_ones_slots_go_to_its_replacement():
    totals = RunTotals()
    totals.update("gw0", counters(in_flight=3, limit=4, sent=5))
    totals.update("gw1", counters(in_flight=2, limit=4, sent=2))
    totals.worker_down("gw0")
    assert (totals.snapshot().in_flight, totals.snapshot().concurrency, totals.snapshot().answered) == (2, 8, 7)
    totals.worker_down("gw1", crashed=True)
    totals.update("gw1-replacement", counters(in_flight=1, limit=4, sent=1))
    snap = totals.snapshot()
    assert (snap.in_flight, snap.concurrency, snap.answered) == (1, 8, 8)  # what the dead worker answered stays
    totals.worker_down("never-reported")  # a worker that died before its first report: nothing to change


def test_before_any_worker_reports_every_counter_is_zero_and_no_limit_is_claimed():
    assert RunTotals().snapshot() == Snapshot(done=0, total=0, concurrency=None)
    assert from_counters(0, 3, {}) == Snapshot(done=0, total=3)  # a worker not connected yet sends no counters


@given(st.lists(st.tuples(st.sampled_from(["gw0", "gw1", "gw2"]), st.integers(0, 50), st.integers(0, 500)),
                max_size=30))
def test_the_sum_is_of_each_workers_latest_counters(updates):
    totals = RunTotals()
    latest: dict[str, tuple[int, int]] = {}
    for worker, in_flight, sent in updates:
        totals.update(worker, counters(in_flight=in_flight, sent=sent))
        latest[worker] = (in_flight, sent)
    snap = totals.snapshot()
    assert snap.in_flight == sum(v[0] for v in latest.values())
    assert snap.answered == sum(v[1] for v in latest.values())
