"""Token counting with the model's own tokenizer, for tasks that pack text to a token budget (LongHealth).

CLUE counted with the model tokenizer's `encode()`, so special tokens such as BOS are in every
count; both counters here reproduce that. A task sees only the `TokenCounter` protocol: it never
learns whether the tokens came from a local tokenizer or from the server's `/tokenize`.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Protocol, runtime_checkable

from clue_checks.errors import TokenizerError

NO_OFFSETS = (
    "LongHealth packs documents to a token budget with the model's tokenizer: "
    "the endpoint has no /tokenize with offsets; give --clue-tokenizer PATH"
)


class TokenizerUnavailable(TokenizerError):
    """No tokenizer to count with: neither a local one nor a server `/tokenize` with offsets."""


@runtime_checkable
class TokenCounter(Protocol):
    def count(self, text: str) -> int:
        """Tokens in `text` as `encode()` gives them, special tokens (BOS) included."""
        ...

    def head(self, text: str, n_tokens: int) -> str:
        """The text of the first `n_tokens` tokens of `text` (special tokens add no text); n<=0 → ""."""
        ...


@runtime_checkable
class UsesTokenCounter(Protocol):
    """A task that needs the model's tokenizer; the runner hands it one after connecting."""

    def use_token_counter(self, counter: TokenCounter | Callable[[], TokenCounter], *,
                          window: int | None = None) -> None: ...


class _Cached:
    """Per-text token data for one run (ids or end offsets, a compact int array), each text computed once.

    Not bounded by count: a run asks about a few thousand distinct texts at most (LongHealth at full
    scale: about 1,350 documents, questions and option strings, about 1 MB of arrays), while a
    fixed-size LRU re-asks the server once a run's texts outnumber it. Concurrent callers for the same
    text (the feeder thread and a test) wait for the first one's answer instead of asking again; a
    failure is handed to those waiting and not kept, so a later call asks again.
    """

    def __init__(self) -> None:
        self._data: dict[str, array] = {}
        self._pending: dict[str, Future[array]] = {}  # texts being computed now, by whichever caller came first
        self._lock = threading.Lock()  # prompts are built by the feeder thread and by tests

    def tokens(self, text: str) -> array:
        with self._lock:
            found = self._data.get(text)
            if found is not None:
                return found
            pending = self._pending.get(text)
            first = pending is None
            if first:
                pending = self._pending[text] = Future()
        if not first:
            return pending.result()  # as bounded as the first caller's computation
        try:
            value = self._compute(text)
        except BaseException as exc:
            with self._lock:
                del self._pending[text]
            pending.set_exception(exc)
            raise
        with self._lock:
            self._data[text] = value
            del self._pending[text]
        pending.set_result(value)
        return value

    def _compute(self, text: str) -> array:
        raise NotImplementedError

    def count(self, text: str) -> int:
        return len(self.tokens(text))


class LocalTokenCounter(_Cached):
    """A transformers tokenizer: `encode` to count, `decode` of the first n ids to cut."""

    def __init__(self, tokenizer: Any) -> None:
        super().__init__()
        self.tokenizer = tokenizer

    def _compute(self, text: str) -> array:
        # verbose=False: documents longer than model_max_length are counted, not warned about.
        return array("I", self.tokenizer.encode(text, verbose=False))  # 4 bytes a token

    def head(self, text: str, n_tokens: int) -> str:
        if n_tokens <= 0:
            return ""
        ids = self.tokens(text)[:n_tokens].tolist()
        # BOS is counted but adds no text: the endpoint counter cuts by offsets and cannot produce "<s>".
        return self.tokenizer.decode(ids, skip_special_tokens=True)


class EndpointTokenCounter(_Cached):
    """The server's `/tokenize`: one (start, stop) character span per token, special tokens included.

    Only the running maximum of the stops is kept (one 4-byte integer a token): a count is their number, and the
    first n tokens' text is the text up to the n-th stop.
    """

    def __init__(self, tokenize: Callable[[str], Sequence[tuple[int, int]] | None]) -> None:
        super().__init__()
        self._tokenize = tokenize
        self._unavailable = False

    def _compute(self, text: str) -> array:
        if self._unavailable:  # asked once; every later prompt fails fast with the same advice
            raise TokenizerUnavailable(NO_OFFSETS)
        spans = self._tokenize(text)
        if spans is None:
            self._unavailable = True
            raise TokenizerUnavailable(NO_OFFSETS)
        ends, reach = array("I"), 0  # 4 bytes a token
        for _, stop in spans:
            reach = max(reach, min(stop, len(text)))  # a token splitting a character may end before the last
            ends.append(reach)
        return ends

    def head(self, text: str, n_tokens: int) -> str:
        if n_tokens <= 0:
            return ""
        ends = self.tokens(text)
        if n_tokens >= len(ends):
            return text
        return text[: ends[n_tokens - 1]]


def shared(factory: Callable[[], TokenCounter]) -> Callable[[], TokenCounter]:
    """`factory` called at most once, on first use, by whichever thread comes first (failures retry)."""
    lock = threading.Lock()
    made: list[TokenCounter] = []

    def get() -> TokenCounter:
        with lock:
            if not made:
                made.append(factory())
            return made[0]

    return get
