"""Token counters: each distinct text is tokenized once per run, however many texts and threads ask."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from clue_checks.tasks.tokens import NO_OFFSETS, EndpointTokenCounter, LocalTokenCounter, TokenizerUnavailable

BASELINE_TOKENIZER = Path(__file__).resolve().parents[2] / "clue_checks" / "server" / "baseline_tokenizer"


class CountingTokenize:
    """A `/tokenize` stand-in: one span per word, BOS first; counts the requests per text.

    With `hold`, every call waits until `release` is set, so concurrent callers overlap for sure."""

    def __init__(self, hold: bool = False) -> None:
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, text: str) -> list[tuple[int, int]]:
        with self.lock:
            self.calls[text] += 1
        assert self.release.wait(10)
        spans, at = [(0, 0)], 0
        for word in text.split():
            start = text.index(word, at)
            at = start + len(word)
            spans.append((start, at))
        return spans


def in_threads(n: int, work: Any) -> list[Any]:
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    return threads, results, errors  # type: ignore[return-value]


def released_together(n: int, work: Any, release: threading.Event) -> tuple[list[Any], list[BaseException]]:
    """`work` in n threads, all let go at once after they have had time to block on `release`."""
    threads, results, errors = in_threads(n, work)
    time.sleep(0.2)  # every thread is inside count(), waiting on the first caller of its text
    release.set()
    for thread in threads:
        thread.join(10)
    return results, errors


def test_more_distinct_texts_than_an_lru_would_hold_are_each_tokenized_once():
    tokenize = CountingTokenize()
    counter = EndpointTokenCounter(tokenize)
    texts = [f"document {i} with chest pain" for i in range(5000)]  # more than the old 2,048-text LRU
    for _ in range(3):  # LongHealth counts every document again for every prompt that packs it
        assert [counter.count(text) for text in texts] == [6] * len(texts)
        assert counter.head(texts[0], 3) == "document 0"
    assert set(tokenize.calls.values()) == {1} and len(tokenize.calls) == len(texts)


def test_concurrent_callers_of_one_text_share_one_request():
    tokenize = CountingTokenize(hold=True)
    counter = EndpointTokenCounter(tokenize)
    texts = ["chest pain since 2019", "troponin 0.04 ng/ml", "no known allergies"]
    results, errors = released_together(12, lambda i: [counter.count(t) for t in texts[i % 3:] + texts[:i % 3]],
                                        tokenize.release)
    assert not errors
    assert all(sorted(r) == [4, 4, 5] for r in results)
    assert tokenize.calls == Counter(dict.fromkeys(texts, 1))


def test_a_failure_reaches_every_waiting_caller_and_a_later_call_asks_again():
    asked: list[str] = []
    release = threading.Event()

    def flaky(text: str) -> list[tuple[int, int]]:
        asked.append(text)
        assert release.wait(10)
        if len(asked) == 1:
            raise ConnectionError("server went away")
        return [(0, 0), (0, len(text))]

    counter = EndpointTokenCounter(flaky)
    _, errors = released_together(6, lambda i: counter.count("chest pain"), release)
    assert len(errors) == 6 and all(isinstance(e, ConnectionError) for e in errors)  # one failure, shared
    assert counter.count("chest pain") == 2  # not kept: asked again
    assert asked == ["chest pain", "chest pain"]


def test_no_offsets_is_asked_once_even_by_concurrent_callers():
    tokenize_calls: list[str] = []
    release = threading.Event()

    def none(text: str) -> None:
        tokenize_calls.append(text)
        release.wait(10)
        return None

    counter = EndpointTokenCounter(none)
    _, errors = released_together(4, lambda i: counter.count("chest pain"), release)
    with pytest.raises(TokenizerUnavailable):
        counter.count("another text")
    assert len(errors) == 4 and all(str(e) == NO_OFFSETS for e in errors)
    assert tokenize_calls == ["chest pain"]


def test_the_local_counter_encodes_each_text_once():
    class Tokenizer:
        def __init__(self) -> None:
            self.encoded: Counter[str] = Counter()

        def encode(self, text: str, verbose: bool = True) -> list[int]:
            self.encoded[text] += 1
            return [1, *range(100, 100 + len(text.split()))]

        def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
            return " ".join(f"w{i}" for i in ids if i != 1 or not skip_special_tokens)

    tokenizer = Tokenizer()
    counter = LocalTokenCounter(tokenizer)
    texts = [f"note {i} of the admission" for i in range(3000)]
    for _ in range(2):
        assert {counter.count(text) for text in texts} == {6}
    assert counter.head(texts[0], 3) == "w100 w101"
    assert set(tokenizer.encoded.values()) == {1} and len(tokenizer.encoded) == len(texts)


@pytest.mark.skipif(not (BASELINE_TOKENIZER / "tokenizer.json").is_file(), reason="no baseline tokenizer")
def test_building_every_longhealth_prompt_from_two_threads_asks_the_server_once_per_text():
    """The runner's counter against the baseline's /tokenize: the feeder and the tests build the same
    prompts at once, for all three tasks, twice over; the server sees each distinct text once."""
    from test_longhealth import settings

    from clue_checks.runner import Run
    from clue_checks.server.baseline import BaselineServer
    from clue_checks.tasks.longhealth import LongHealthT1, LongHealthT2, LongHealthT3

    fixtures = BASELINE_TOKENIZER.parents[1] / "fixtures"  # the bundled synthetic LongHealth
    with BaselineServer() as server:
        run = Run(settings(server.url, fixtures))
        run.tasks = {cls.name: cls(run.profile) for cls in (LongHealthT1, LongHealthT2, LongHealthT3)}
        try:
            run.connect([server.url])
            samples = [s for name in run.tasks for s in run.samples(name)]
            threads, _, errors = in_threads(2, lambda i: [run.request_for(s) for s in samples])
            for thread in threads:
                thread.join(120)
            assert not errors
            asked = server.tokenize_texts
        finally:
            run.close()
    questions = sum(len(p.questions) for p in run.tasks["longhealth-t1"]._benchmark.patients.values())
    assert len(samples) == 3 * 5 * questions
    assert asked and max(asked.values()) == 1, f"{sum(asked.values())} /tokenize requests for {len(asked)} texts"
