"""The live progress line: its content, its pace on a terminal and in CI, and silence under -q."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from clue_checks.progress import LiveProgress, Snapshot, format_line


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
