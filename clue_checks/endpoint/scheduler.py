"""Concurrent request scheduling: every selected sample's request in flight at once.

An asyncio loop runs in one background thread. `submit()` returns a
`concurrent.futures.Future` at once; a test blocks only on its own future, so responses
are consumed as they land while the rest are still in flight. The same request is sent
once (deduplicated by key), answered from the store when it is there, and written to the
store the moment it arrives. With several endpoints (replicas of one model), each request
goes to the endpoint with the fewest outstanding requests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from .client import EndpointClient, RetryPolicy
from .types import (REQUEST_COUNTS, Completion, EndpointError, EndpointIdentity, EndpointInfo, EndpointUnavailable,
                    Request, request_key)

T = TypeVar("T")

# Servers that do not advertise a limit (vLLM, transformers serve) queue requests themselves;
# this many in flight keeps them busy without opening hundreds of sockets.
DEFAULT_CONCURRENCY = 64
# Requests in a row that could not reach the server (after their retries) before it counts as down.
BREAKER_THRESHOLD = 5


class Store(Protocol):
    def get(self, identity: EndpointIdentity, request: Request) -> Completion | None: ...
    def put(self, identity: EndpointIdentity, request: Request, completion: Completion) -> None: ...


@dataclass(frozen=True)
class Outcome:
    completion: Completion
    source: Literal["sent", "store", "shared"]  # shared: an identical request already sent in this run


@dataclass
class _Endpoint:
    client: EndpointClient
    info: EndpointInfo
    outstanding: int = 0


def _shared(original: concurrent.futures.Future[Outcome]) -> concurrent.futures.Future[Outcome]:
    """Another sample with the identical request: the same answer, counted as shared, not as sent."""
    shared: concurrent.futures.Future[Outcome] = concurrent.futures.Future()

    def copy(done: concurrent.futures.Future[Outcome]) -> None:
        if done.cancelled():
            shared.cancel()
        elif done.exception() is not None:
            shared.set_exception(done.exception())  # type: ignore[arg-type]
        else:
            # "shared" whether the original was sent or stored, so a rerun counts the same samples as shared.
            shared.set_result(Outcome(done.result().completion, "shared"))

    original.add_done_callback(copy)
    return shared


class Scheduler:
    def __init__(
        self,
        urls: Sequence[str],
        store: Store,
        *,
        concurrency: int | None = None,
        concurrency_share: float = 1.0,
        refresh: bool = False,
        retry: RetryPolicy = RetryPolicy(),
        timeout: float = 600.0,
        api_key: str | None = None,
        model_name: str | None = None,
        model_revision: str | None = None,
    ) -> None:
        if not urls:
            raise ValueError("at least one endpoint URL is needed")
        self._urls = list(urls)
        self._store = store
        self._requested_concurrency = concurrency
        self._share = concurrency_share
        self._refresh = refresh
        self._retry = retry
        self._timeout = timeout
        self._api_key = api_key
        self._model_name = model_name
        self._model_revision = model_revision
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="clue-scheduler", daemon=True)
        self._endpoints: list[_Endpoint] = []
        self._semaphore: asyncio.Semaphore | None = None
        self._futures: dict[str, concurrent.futures.Future[Outcome]] = {}
        self._lock = threading.Lock()
        self.concurrency = 0
        self.broken: str | None = None
        self._same_refusals = 0
        self._last_refusal: tuple[int | None, str | None] | None = None
        self.store_errors: list[str] = []
        self._consecutive_down = 0
        # What went over the wire, counted once per request whatever its retries: answered (`sent`),
        # given up on (`failed`); and what did not need to: `from_store`, `shared` (a duplicate submission).
        self.sent = 0
        self.from_store = 0
        self.failed = 0
        self.shared = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> list[EndpointInfo]:
        """Start the loop, check health and discover every endpoint. Raises EndpointUnavailable."""
        self._thread.start()
        infos = self._run(self._connect())
        return infos

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _connect(self) -> list[EndpointInfo]:
        clients = [
            EndpointClient(url, timeout=self._timeout, retry=self._retry, api_key=self._api_key) for url in self._urls
        ]
        try:
            infos = list(await asyncio.gather(*(c.discover() for c in clients)))
        except BaseException:
            await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)
            raise
        if self._model_name:  # --model-name: the name chat requests carry, when discovery guessed wrong
            infos = [dataclasses.replace(i, served_model_name=self._model_name) for i in infos]
        if self._model_revision:  # --model-revision: part of every stored response's key
            infos = [dataclasses.replace(i, model_revision=self._model_revision) for i in infos]
        identities = {info.identity for info in infos}
        if len(identities) > 1:
            await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)
            listing = "; ".join(f"{i.url} serves {i.model_id} ({i.server_kind}, rev {i.model_revision})" for i in infos)
            raise EndpointUnavailable(
                "Several --model-endpoint values must be replicas of one model, but they differ: " + listing,
                url=", ".join(self._urls),
            )
        self._endpoints = [_Endpoint(c, i) for c, i in zip(clients, infos)]
        self.concurrency = self._resolve_concurrency(infos)
        self._semaphore = asyncio.Semaphore(self.concurrency)
        return infos

    def _resolve_concurrency(self, infos: list[EndpointInfo]) -> int:
        if self._requested_concurrency:
            total = self._requested_concurrency
        else:
            total = sum(i.max_concurrent_requests or DEFAULT_CONCURRENCY for i in infos)
        # Under xdist each worker gets its share, so the sum over workers stays within the bound.
        return max(1, int(total * self._share))

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self._run(self._aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    async def _aclose(self) -> None:
        pending = [t for t in asyncio.all_tasks(self._loop) if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.gather(*(e.client.aclose() for e in self._endpoints), return_exceptions=True)

    # -- requests --------------------------------------------------------------------------

    @property
    def info(self) -> EndpointInfo:
        return self._endpoints[0].info

    def submit(self, request: Request) -> concurrent.futures.Future[Outcome]:
        """The future outcome of `request`; sends it only if neither in flight nor stored."""
        identity = self.info.identity
        key = request_key(identity, request)
        with self._lock:
            future = self._futures.get(key)
            if future is not None:
                self.shared += 1
                return _shared(future)
            future = concurrent.futures.Future()
            self._futures[key] = future
        stored = None if self._refresh else self._store.get(identity, request)
        if stored is not None:
            with self._lock:
                self.from_store += 1
            future.set_result(Outcome(stored, "store"))
        else:
            asyncio.run_coroutine_threadsafe(self._send(request, future), self._loop)
        return future

    async def _send(self, request: Request, future: concurrent.futures.Future[Outcome]) -> None:
        assert self._semaphore is not None
        async with self._semaphore:
            if self.broken is not None:  # the endpoint went down: fail fast instead of retrying each request
                future.set_exception(EndpointUnavailable(self.broken, url=self._endpoints[0].info.url))
                return
            endpoint = min(self._endpoints, key=lambda e: e.outstanding)
            endpoint.outstanding += 1
            try:
                completion = await endpoint.client.complete(request, endpoint.info)
            except asyncio.CancelledError:
                future.cancel()
                raise
            except Exception as exc:
                if not isinstance(exc, EndpointError):  # a bug or an odd transport failure: still one errored test
                    exc = EndpointError(f"request failed: {exc!r}", url=endpoint.info.url)
                self._failed(exc)
                future.set_exception(exc)
                return
            finally:
                endpoint.outstanding -= 1
        self._consecutive_down = 0
        # Persist before anyone sees the result: a crash after this loses nothing. A store that
        # cannot write must not cost the answer we already have.
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, self._store.put, endpoint.info.identity, request, completion)
        except Exception as exc:
            with self._lock:
                self.store_errors.append(f"{exc.__class__.__name__}: {exc}")
        with self._lock:
            self.sent += 1
        future.set_result(Outcome(completion, "sent"))

    def _failed(self, exc: EndpointError) -> None:
        with self._lock:
            self.failed += 1
            # The server answers, but refuses every request the same way before answering any (a chat
            # template without a system role, a wrong model name): one message instead of hundreds.
            refusal = (exc.status, exc.server_message) if exc.status is not None and not exc.retryable else None
            self._same_refusals = self._same_refusals + 1 if refusal and refusal == self._last_refusal else 1
            self._last_refusal = refusal
            if refusal and self.sent == 0 and self._same_refusals >= BREAKER_THRESHOLD and self.broken is None:
                self.broken = (f"the server refused the first {self._same_refusals} requests alike and answered none "
                               f"(last: {exc}); the remaining requests were not sent")
            # Retries are exhausted and the server could not even be reached: after a few in a row the
            # endpoint is down, and every remaining request would take its full retry budget to say so.
            if exc.status is None and exc.retryable:
                self._consecutive_down += 1
                if self._consecutive_down >= BREAKER_THRESHOLD and self.broken is None:
                    self.broken = (f"the endpoint stopped answering ({self._consecutive_down} requests in a row "
                                   f"failed after retries; last: {exc}); the remaining requests were not sent")
            else:
                self._consecutive_down = 0

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {name: getattr(self, name) for name in REQUEST_COUNTS}

    def tokenize(self, text: str) -> list[int] | None:
        endpoint = self._endpoints[0]
        return self._run(endpoint.client.tokenize(text, endpoint.info))

    def tokenize_offsets(self, text: str) -> list[tuple[int, int]] | None:
        """Character (start, stop) of each token from the first endpoint's /tokenize, or None."""
        endpoint = self._endpoints[0]
        return self._run(endpoint.client.tokenize_offsets(text, endpoint.info))
