"""The run's per-sample submission: the feeder and the sample's own test never send twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from clue_checks.rendered_ahead import RenderedAhead
from clue_checks.runner import Run
from clue_checks.server.baseline import BaselineServer
from clue_checks.settings import Settings

FIXTURES = Path(__file__).resolve().parents[2] / "clue_checks" / "fixtures"


def settings(url: str, tmp_path: Path) -> Settings:
    return Settings(endpoints=(url,), api="chat", model_name=None, tokenizer=None, data_dir=FIXTURES,
                    tasks=("mednli",), limit=None, concurrency=None, cache_dir=None, refresh=False,
                    report_dir=tmp_path, thresholds=None, profile="paper", exit_mode="pytest",
                    request_timeout=30.0, api_key=None)


@contextmanager
def connected_run(tmp_path: Path) -> Iterator[Run]:
    """A run connected to an embedded baseline, closed after."""
    with BaselineServer() as server:
        run = Run(settings(server.url, tmp_path))
        try:
            run.connect([server.url])
            yield run
        finally:
            run.close()


def test_feeder_and_test_asking_at_once_submit_the_sample_once(tmp_path):
    with connected_run(tmp_path) as run:
        sample = run.samples("mednli")[0]
        assert run.scheduler is not None
        submitted = []
        real_submit, real_request_for = run.scheduler.submit, run.request_for

        def counting_submit(request):
            submitted.append(request)
            return real_submit(request)

        def slow_request_for(s):  # widen the window in which both callers are past the first check
            time.sleep(0.05)
            return real_request_for(s)

        run.scheduler.submit = counting_submit  # type: ignore[method-assign]
        run.request_for = slow_request_for  # type: ignore[method-assign]
        barrier = threading.Barrier(2)
        futures = []

        def ask():
            barrier.wait()
            futures.append(run._submit(sample)[0])

        threads = [threading.Thread(target=ask) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(submitted) == 1 and futures[0] is futures[1]
        assert futures[0].result(10).source == "sent"  # not "shared" with itself


def test_a_sample_asked_again_gets_its_answer_unsent_and_its_future_is_dropped(tmp_path):
    with connected_run(tmp_path) as run:
        sample = run.samples("mednli")[0]
        first = run.evaluate(sample)
        again = run.evaluate(sample)  # a rerun in the same session
        late = run._submit(sample)[0].result(10)  # the feeder coming after the test
        counts = run.request_counts()
    assert counts["sent"] == 1 and counts["shared"] == 0
    assert first.outcome is again.outcome is late and first.outcome.source == "sent"
    assert sample.test_id not in run._sample_locks


def counting_renders(run: Run) -> list[str]:
    rendered: list[str] = []
    real_request_for = run.request_for

    def request_for(s):
        rendered.append(s.test_id)
        return real_request_for(s)

    run.request_for = request_for  # type: ignore[method-assign]
    return rendered


def test_each_sample_is_rendered_once_whoever_submits_it(tmp_path):
    """A test that comes first renders for its own submission; the feeder's rendering goes to the sample's test
    (answered from the store: kept until read). Samples whose tests never came give their slots back."""
    with BaselineServer() as server:
        for rerun in (False, True):  # the first run fills the store; the rerun reads it, the feeder ahead
            run = Run(replace(settings(server.url, tmp_path), cache_dir=tmp_path / "store"))
            try:
                run.connect([server.url])
                samples = run.samples("mednli")[:4]
                rendered = counting_renders(run)
                if rerun:
                    run.prefetch(samples)
                    assert run._feeder is not None
                    run._feeder.join(10)
                asked = samples[2:] if rerun else samples  # on the rerun the first two tests never come
                assert [run.evaluate(s).outcome.source for s in asked] == ["store" if rerun else "sent"] * len(asked)
                assert sorted(rendered) == sorted(s.test_id for s in samples)
                assert not len(run._rendered)  # nothing kept once the tests have come
            finally:
                run.close()


def test_renderings_kept_ahead_are_bounded_and_let_go_when_their_tests_do_not_come():
    ahead: RenderedAhead[str] = RenderedAhead(4)
    stop = threading.Event()
    for i in range(4):
        ahead.keep(f"t{i}", f"r{i}", answered=True)
    ahead.keep("t4", "in flight", answered=False)
    assert ahead.take("t1") == "r1" and len(ahead) == 3  # t0's test did not come: dropped with it
    assert ahead.take("t0") is None  # came late: renders for itself
    ahead.drop("t4")  # answered before its test came: not kept
    ahead.drop("t2")  # answered ones are kept until taken
    assert len(ahead) == 2
    ahead.keep("t5", "r5", answered=True)
    ahead.keep("t6", "r6", answered=True)
    ahead.wait_for_room(stop)  # room for 4 full, and no test takes one: what is kept goes
    assert len(ahead) == 0 and ahead.take("t5") is None


def test_a_full_feeder_waits_for_the_tests_to_take_half():
    ahead: RenderedAhead[str] = RenderedAhead(4)
    for i in range(4):
        ahead.keep(f"t{i}", f"r{i}", answered=True)
    waited = threading.Thread(target=ahead.wait_for_room, args=(threading.Event(),))
    waited.start()
    for i in range(2):
        assert ahead.take(f"t{i}") == f"r{i}"
    waited.join(10)
    assert not waited.is_alive() and [ahead.take(f"t{i}") for i in (2, 3)] == ["r2", "r3"]  # nothing let go
