"""Concurrent request scheduling: every selected sample's request in flight at once, each sent once.

An asyncio loop runs in one background thread. `submit()` returns a `concurrent.futures.Future` at
once, and every future is resolved whatever happens (an answer, an error, a broken store row, a
store that cannot be written); `wait()` blocks on one with a bound. A test blocks only on its own
future, so responses are consumed as they land while the rest are still in flight.

For each request, in order:
- the same request submitted twice is sent once (deduplicated by key);
- answered from the store when it is there (a row that cannot be read back is a miss, counted);
- a lease on the key, so another run sharing the cache waits for this answer instead of asking too
  (and this run waits for theirs);
- sent by `routing.Router` to the live replica with the fewest outstanding requests, each try through
  the in-flight limit (`concurrency.AdaptiveLimit`: AIMD on 429/503/timeouts, honouring Retry-After);
  a failing replica leaves the rotation until GET /health answers, and the run stops sending with one
  message when the server fails everything in a row (`breaker`);
- the answer is stored the moment it arrives (the store calls of one event-loop turn share one
  transaction); a store write that fails costs no answer and is counted and reported.
"""


from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from clue_checks.endpoint.client import EndpointClient
from clue_checks.endpoint.outcomes import Outcome, settle, shared_future
from clue_checks.endpoint.redact import Redactor
from clue_checks.endpoint.retry import RetryPolicy
from clue_checks.endpoint.routing import Router, Trace, begin_trace, limit_for
from clue_checks.endpoint.store_types import Answer
from clue_checks.endpoint.transports import DEFAULT_TRANSPORT
from clue_checks.endpoint.store_side import Store, StoreSide
from clue_checks.endpoint.types import REQUEST_COUNTS, EndpointError, EndpointInfo, EndpointUnavailable, Request, request_key

__all__ = ["CONNECT_TIMEOUT", "Outcome", "Scheduler", "Store"]

T = TypeVar("T")

CONNECT_TIMEOUT = 5.0


class Scheduler(StoreSide):
    """Sends one run's requests to one model (one or more replicas). Start, submit/wait, close.

    Counters, read at any time: `sent`, `failed` (went to the server, given up on), `from_store`,
    `shared` (see `counts()`), and `stats()` for the report: tries, retries, requests not sent because
    the run stopped, reroutes, the effective concurrency, store problems, replica events.
    """

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
        headers: Mapping[str, str] | None = None,
        model_name: str | None = None,
        model_revision: str | None = None,
        startup_wait: float = 10.0,
        redact_server_text: bool = False,
        http: str = DEFAULT_TRANSPORT,
    ) -> None:
        if not urls:
            raise ValueError("at least one endpoint URL is needed")
        self._urls = list(urls)
        self._requested_concurrency = concurrency
        self._share = concurrency_share
        self._retry = retry
        self._timeout = timeout
        self._api_key = api_key
        self._headers = dict(headers or {})
        self._model_name = model_name
        self._model_revision = model_revision
        self._startup_wait = startup_wait
        self._http = http  # the HTTP transport's name (`transports`)
        # Under --clue-redact a server's own words (a 400 quoting the prompt) are hashed in every error.
        self.redact = Redactor.for_endpoint(api_key=api_key, headers=headers, urls=urls,
                                            hash_server_text=redact_server_text)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="clue-scheduler", daemon=True)
        self._router = Router(retry, self.redact)
        self._lock = threading.Lock()
        self._init_store(store, refresh=refresh)
        # A request's future while it is pending, then its answer alone (a Future weighs ~1.6 KB): an
        # identical request later in the run is answered from it as `shared`.
        self._futures: dict[str, concurrent.futures.Future[Outcome] | Outcome] = {}
        self._progress_at = time.monotonic()
        # The longest one try can take without any try finishing anywhere: past it, a wait is a stall.
        self.stall_seconds = timeout + CONNECT_TIMEOUT + retry.max_retry_after + 30.0
        self.concurrency = 0  # the in-flight ceiling (the limit adapts below it)
        self._init_counts()
        # Called on the loop's thread as each request completes (an xdist worker keeps its counts on disk).
        self.on_count: Callable[[], None] | None = None

    def _init_counts(self) -> None:
        # What went over the wire, counted once per request whatever its retries: answered (`sent`),
        # given up on (`failed`); and what did not need to: `from_store`, `shared` (a duplicate submission).
        self.sent = 0
        self.from_store = 0
        self.failed = 0
        self.shared = 0
        self.not_sent = 0  # failed without being sent: the run had stopped sending
        self.retries = 0
        self.tokens_out = 0  # output tokens of the answers sent now (not stored ones), for the progress line

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> list[EndpointInfo]:
        """Start the loop, check health and discover every endpoint. Raises EndpointUnavailable."""
        self._thread.start()
        self._progress_at = time.monotonic()
        bound = self._startup_wait + 6 * (min(self._timeout, 10.0) + CONNECT_TIMEOUT) + 30.0
        return self._run(self._connect(), bound)

    def _run(self, coro: Coroutine[Any, Any, T], bound: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout=bound)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise EndpointUnavailable(f"no answer within {bound:.0f} s", url=", ".join(map(self.redact, self._urls)),
                                      hint="Check the server.", kind="timeout") from None

    async def _connect(self) -> list[EndpointInfo]:
        clients = [
            EndpointClient(url, timeout=self._timeout, connect_timeout=CONNECT_TIMEOUT, retry=self._retry,
                           api_key=self._api_key, headers=self._headers, startup_wait=self._startup_wait,
                           gate=self._router.gate(index), hash_server_text=self.redact.hash_server_text,
                           http=self._http)
            for index, url in enumerate(self._urls)
        ]
        try:
            infos = list(await asyncio.gather(*(c.discover() for c in clients)))
        except BaseException:
            await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)
            raise
        if self._model_name:  # --clue-model-name: the name chat requests carry, when discovery guessed wrong
            infos = [dataclasses.replace(i, served_model_name=self._model_name) for i in infos]
        if self._model_revision:  # --clue-model-revision: part of every stored response's key
            infos = [dataclasses.replace(i, model_revision=self._model_revision) for i in infos]
        identities = {info.identity for info in infos}
        if len(identities) > 1:
            await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)
            listing = "; ".join(f"{i.url} serves {i.model_id} ({i.server_kind}, rev {i.model_revision})" for i in infos)
            raise EndpointUnavailable(
                "Several --model-endpoint values must be replicas of one model, but they differ: " + listing,
                url=", ".join(self.redact(u) for u in self._urls),
            )
        limit, source = limit_for(infos, self._requested_concurrency, self._share, self._retry)
        self._router.attach(clients, infos, limit, source)
        self.concurrency = limit.ceiling
        self._loop.create_task(self._renew_leases())
        return infos

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self._run(self._aclose(), 30.0)
        except EndpointError:
            pass
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self._loop.close()

    async def _aclose(self) -> None:
        pending = [t for t in asyncio.all_tasks(self._loop) if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._store_call("handing back leases", None, self._in_thread(self._store.release_all, self._lease))
        await asyncio.gather(*(r.client.aclose() for r in self._router.replicas), return_exceptions=True)

    # -- requests --------------------------------------------------------------------------

    @property
    def info(self) -> EndpointInfo:
        return self._router.replicas[0].info

    @property
    def broken(self) -> str | None:
        """Why the run stopped sending (one message for the whole run), or None while it sends."""
        return self._router.broken

    def submit(self, request: Request) -> concurrent.futures.Future[Outcome]:
        """The future outcome of `request`; sends it only if neither in flight nor stored. Always resolved."""
        key = request_key(self.info.identity, request)
        with self._lock:
            future = self._futures.get(key)
            if future is not None:
                self.shared += 1
                return shared_future(future)
            future = concurrent.futures.Future()
            self._futures[key] = future
        future.add_done_callback(lambda done: self._answered(key, done))
        try:
            stored = None if self._refresh else self._read(key)
            if stored is not None:
                with self._lock:
                    self.from_store += 1
                settle(future, result=Outcome(stored, "store"))
            else:
                asyncio.run_coroutine_threadsafe(self._send(key, request, future), self._loop)
        except BaseException as exc:  # e.g. the loop already closed: the sample still gets its error
            settle(future, error=EndpointUnavailable(f"not sent: {exc!r}", url=self.info.url, kind="stopped"))
        return future

    def _answered(self, key: str, done: concurrent.futures.Future[Outcome]) -> None:
        if not done.cancelled() and done.exception() is None:  # an error keeps its future (it is rare)
            with self._lock:
                self._futures[key] = done.result()

    def wait(self, future: concurrent.futures.Future[Outcome], *, poll: float = 1.0,
             on_poll: Callable[[], None] | None = None) -> Outcome:
        """The outcome, or EndpointError when nothing has progressed for `stall_seconds` (never hangs).

        `on_poll` is called every `poll` seconds while the answer is awaited, in the caller's thread
        (the live progress line is drawn from there, never from the loop's thread)."""
        while True:
            try:
                return future.result(timeout=poll)
            except concurrent.futures.TimeoutError:
                if future.done():
                    continue
                if on_poll is not None:
                    on_poll()
            except concurrent.futures.CancelledError:
                raise EndpointUnavailable("not answered: the run is stopping", url=self.info.url,
                                          kind="stopped") from None
            if not self._thread.is_alive():
                raise EndpointUnavailable("not answered: the request loop has stopped", url=self.info.url,
                                          kind="stopped")
            idle = time.monotonic() - max(self._progress_at, self._router.progress_at)
            if idle > self.stall_seconds:
                raise EndpointError(
                    f"no answer, and no request has progressed for {idle:.0f} s (longer than one try can take)",
                    url=self.info.url, hint="Check the server; rerun to ask again (answers so far are stored).",
                    kind="timeout")

    async def _send(self, key: str, request: Request, future: concurrent.futures.Future[Outcome]) -> None:
        trace = begin_trace()
        try:
            outcome = await self._obtain(key, request)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            error = exc if isinstance(exc, EndpointError) else EndpointError(f"request failed: {exc!r}",
                                                                             url=self.info.url)
            settle(future, error=self._final(error, trace))
            return
        finally:
            if trace.tries > 1:
                with self._lock:
                    self.retries += trace.tries - 1
            if self.on_count is not None:
                self.on_count()
        settle(future, result=outcome)

    def _final(self, error: EndpointError, trace: Trace) -> EndpointError:
        """Count a request that failed for good and say honestly whether it reached the server."""
        error = self.redact.error(error)
        with self._lock:
            if trace.tries == 0:
                self.not_sent += 1
            else:
                self.failed += 1
        if error.kind == "stopped" and trace.tries:
            times = "once" if trace.tries == 1 else f"{trace.tries} times"
            error = error.replace(message=f"tried {times}, then {error.message}")
        elif error.kind == "stopped":
            error = error.replace(message=f"not sent, because {error.message}")
        if trace.tries:
            self._router.gave_up(error)
        return error

    async def _obtain(self, key: str, request: Request) -> Outcome:
        claim = await self._store_call("taking the lease", key, self._claim(key))
        if claim is not None and claim.holder is not None:
            claim = await self._wait_for_other_run(key)
        if claim is not None and claim.completion is not None:
            with self._lock:
                self.from_store += 1
            return Outcome(claim.completion, "store")
        try:
            completion = await self._router.answer(request)
        except BaseException:
            await asyncio.shield(self._store_call("handing back the lease", key,
                                                  self._in_thread(self._store.release, key, self._lease)))
            raise
        # Persist before anyone sees the result: a crash after this loses nothing. A store that
        # cannot write must not cost the answer we already have: counted, reported, asked again next run.
        await self._store_call("storing the answer", key, self._put(Answer(key, self.info.identity, request, completion)))
        with self._lock:
            self.sent += 1
            self.tokens_out += completion.generated_tokens or 0
        return Outcome(completion, "sent")

    # -- what happened ---------------------------------------------------------------------

    @property
    def tries(self) -> int:
        """Every try on the wire, retries included."""
        return self._router.tries

    @property
    def rerouted(self) -> int:
        return self._router.rerouted

    @property
    def replica_events(self) -> list[str]:
        return list(self._router.events)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {name: getattr(self, name) for name in REQUEST_COUNTS}

    def stats(self) -> dict[str, Any]:
        """How the run's requests went, for the terminal and the report (JSON-safe, secrets redacted)."""
        with self._lock:
            stats: dict[str, Any] = {name: getattr(self, name) for name in REQUEST_COUNTS}
            stats.update(not_sent=self.not_sent, tries=self._router.tries, retries=self.retries,
                         rerouted=self._router.rerouted,
                         from_other_runs=self.from_other_runs)
            stats["store"] = self._store_summary()
        stats.update(self._router.summary())
        stats["stopped"] = self.broken
        return stats

    def progress(self) -> dict[str, int | None]:
        """Cheap counters for the live progress line (read often, from the main thread)."""
        limit = self._router.limit
        with self._lock:
            return {"in_flight": limit.in_flight if limit else 0, "limit": limit.limit if limit else None,
                    "sent": self.sent, "from_store": self.from_store, "retries": self.retries,
                    "failed": self.failed + self.not_sent, "tokens_out": self.tokens_out}

    def tokenize_offsets(self, text: str) -> list[tuple[int, int]] | None:
        """Character (start, stop) of each token from the first endpoint's /tokenize, or None."""
        replica = self._router.replicas[0]
        return self._run(replica.client.tokenize_offsets(text, replica.info), self.stall_seconds)
