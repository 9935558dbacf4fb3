"""One process's run: tasks and their samples (run_data.py), the endpoint connection, and each sample's outcome.

The plugin calls this; it holds no pytest objects. Requests for this process's share of the
selected samples are fed to the scheduler in test order by a background feeder, with
bounded look-ahead so prompts are built lazily and memory stays flat; a test that comes
before the feeder submits its own request (deduplicated by key, so still sent once).
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clue_checks.endpoint.scheduler import Outcome, Scheduler
from clue_checks.endpoint.types import REQUEST_COUNTS, EndpointError, EndpointInfo, Request
from clue_checks.rendered_ahead import RenderedAhead
from clue_checks.rendering import Renderer, TemplateUnavailable, load_tokenizer
from clue_checks.rendering_specs import rendering_spec
from clue_checks.run_data import RunData
from clue_checks.settings import Settings
from clue_checks.tasks import Prompt, Sample
from clue_checks.tasks.base import strip_echoed_prefix
from clue_checks.tasks.families import ModelFamily, resolve_family
from clue_checks.tasks.registry import TaskCatalog
from clue_checks.tasks.tokens import (EndpointTokenCounter, LocalTokenCounter, TokenCounter, TokenizerUnavailable,
                           UsesTokenCounter, shared)

BASELINE_TOKENIZER = Path(__file__).parent / "server" / "baseline_tokenizer"


@dataclass(frozen=True)
class Evaluated:
    """A sample's prompt, request, raw and scored text (for the failure message and the report)."""

    sample: Sample
    prompt: Prompt
    request: Request
    outcome: Outcome
    scored_text: str


def _resolved(outcome: Outcome) -> concurrent.futures.Future[Outcome]:
    done: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
    done.set_result(outcome)
    return done


class Run(RunData):
    """`RunData` and the endpoint connection: the process that sends the requests (run_data.py)."""

    def __init__(self, settings: Settings, catalog: TaskCatalog | None = None) -> None:
        super().__init__(settings, catalog)
        self.scheduler: Scheduler | None = None
        self.renderer: Renderer | None = None
        # The model family whose CLUE quirks apply, resolved at connect (--clue-model-family, else the model id).
        self.family: ModelFamily | None = None
        # A sample's future until its test has read the answer, then the answer alone (a Future weighs
        # ~1.6 KB; a rerun in the same session, e.g. pytest-rerunfailures, reads the same answer, unsent).
        self._futures: dict[str, concurrent.futures.Future[Outcome] | Outcome] = {}
        self._lock = threading.Lock()
        self._sample_locks: dict[str, threading.Lock] = {}
        self._feeder: threading.Thread | None = None
        # The feeder's renderings, kept for their tests: a sample is rendered once (rendered_ahead.py).
        self._rendered: RenderedAhead[tuple[Prompt, Request]] = RenderedAhead(0)
        self._stop = threading.Event()
        self._token_counter: Callable[[], TokenCounter] = lambda: None  # type: ignore[assignment, return-value]

    # -- connection ------------------------------------------------------------------------

    def connect(self, urls: Sequence[str], *, concurrency_share: float = 1.0) -> EndpointInfo:
        """Health check and discovery; chooses the API mode. Raises EndpointUnavailable/TemplateUnavailable,
        and StoreError when the response store cannot be used."""
        s = self.settings
        self.check_egress(urls)  # before the store, discovery or any request
        store = self.open_store()
        scheduler = Scheduler(urls, store, concurrency=s.concurrency, concurrency_share=concurrency_share,
                              refresh=s.refresh, timeout=s.request_timeout, api_key=s.api_key,
                              model_name=s.model_name, model_revision=s.model_revision,
                              redact_server_text=s.redact)
        try:
            info = scheduler.start()[0]
            self.family = resolve_family(s.model_family, info.model_id)
            self.renderer = self._renderer(info)
            self._use_token_counter(info, scheduler)
        except BaseException:
            scheduler.close()
            raise
        self.scheduler = scheduler
        return info

    def _renderer(self, info: EndpointInfo) -> Renderer:
        s = self.settings
        tokenizer_source = s.tokenizer or (str(BASELINE_TOKENIZER) if info.server_kind == "clue-baseline" else None)
        base = s.prompt_layout == "base"  # CLUE's plain transcript: no chat template needed
        mode = s.api
        if mode == "auto":
            mode = "generate" if info.supports_generate and (tokenizer_source or base) else "chat"
        layout = {"merge_system_role": s.system_role == "merge", "layout": s.prompt_layout, "family": self.family}
        if mode == "generate":
            if not info.supports_generate:
                raise TemplateUnavailable(
                    f"--clue-api generate needs TGI's /generate, but {info.url} is {info.server_kind}; use --clue-api chat")
            if not tokenizer_source and not base:
                raise TemplateUnavailable(
                    "--clue-api generate renders CLUE's prompts with the model's chat template locally: "
                    "give --clue-tokenizer (a local folder with the model's tokenizer files), use --clue-prompt-layout base "
                    "for a base model, or use --clue-api chat")
            tokenizer = load_tokenizer(tokenizer_source) if tokenizer_source else None
            return Renderer("generate", info, tokenizer, self.profile.prefills_assistant_prefix, self.profile.postprocess,
                            **layout)
        return Renderer("chat", info, None, self.profile.prefills_assistant_prefix, self.profile.postprocess, **layout)

    def mode_warnings(self) -> list[str]:
        """Lines for the run's header: what this run's requests cannot do that CLUE's did (chat mode under
        the `paper` profile loses the prefill, `truncate` and the Llama-3 stop strings). Empty when none,
        or before `connect`."""
        if self.renderer is None:
            return []
        lost = self.renderer.lost_in_chat_mode(truncates=bool(self.profile.truncate_reserve))
        if not lost:
            return []
        return [f"chat mode under the {self.profile.name} profile: " + "; ".join(lost) + ". Scores can differ "
                "from CLUE's: for its exact requests use --clue-api generate with --clue-tokenizer on a TGI server, or "
                "--clue-profile head (CLUE's chat-style code)"]

    def _use_token_counter(self, info: EndpointInfo, scheduler: Scheduler) -> None:
        """Tasks that pack to a token budget (LongHealth) get the model's tokenizer, chosen on first use.

        The endpoint's own /tokenize when it gives token offsets (the served model's tokenizer, so
        counts cannot drift from what the server sees); else a local tokenizer (--clue-tokenizer, or the
        baseline's own); without either, only a LongHealth prompt fails, with the advice to give --clue-tokenizer.
        """
        source = self.settings.tokenizer or (str(BASELINE_TOKENIZER) if info.server_kind == "clue-baseline" else None)
        loaded = self.renderer.tokenizer if self.renderer is not None else None

        def choose() -> TokenCounter:
            endpoint = EndpointTokenCounter(scheduler.tokenize_offsets)
            try:
                endpoint.count("token budget check")
                return endpoint
            except (TokenizerUnavailable, EndpointError):  # no /tokenize, no offsets, or it failed
                if loaded is not None:
                    return LocalTokenCounter(loaded)
                if source is not None:
                    return LocalTokenCounter(load_tokenizer(source))
                raise

        factory = shared(choose)  # one counter, one cache, for all three LongHealth tasks
        self._token_counter = factory
        for task in self.tasks.values():
            if isinstance(task, UsesTokenCounter):
                task.use_token_counter(factory, window=info.max_total_tokens)

    def check_token_counter(self, task_names: Sequence[str]) -> None:
        """Before any request: a task that packs to a token budget can count tokens (raises TokenizerUnavailable)."""
        if any(isinstance(self.tasks[name], UsesTokenCounter) for name in task_names):
            self._token_counter().count("token budget check")

    @property
    def info(self) -> EndpointInfo:
        assert self.scheduler is not None
        return self.scheduler.info

    # -- requests --------------------------------------------------------------------------

    def request_for(self, sample: Sample) -> tuple[Prompt, Request]:
        assert self.renderer is not None
        loaded = self._loaded[sample.task]
        task = self.tasks[sample.task]
        prompt = task.prompt(sample, loaded.shots)
        return prompt, self.renderer.request(prompt, rendering_spec(task), scope=task.request_scope)

    def _submit(self, sample: Sample, rendered: tuple[Prompt, Request] | None = None
                ) -> tuple[concurrent.futures.Future[Outcome], tuple[Prompt, Request] | None]:
        """The sample's future, and its rendering when this call made it (None when it was submitted before)."""
        # The feeder and the sample's own test may ask at once: one submission per sample, so a
        # sample is never counted as sharing its own request. The prompt is rendered outside the
        # run-wide lock; only the two callers of this one sample wait for each other.
        known = self._futures.get(sample.test_id)
        if isinstance(known, Outcome):  # already read by its test (the feeder came late): no lock needed
            return _resolved(known), None
        with self._lock:
            sample_lock = self._sample_locks.setdefault(sample.test_id, threading.Lock())
        with sample_lock:
            future = self._futures.get(sample.test_id)
            if isinstance(future, Outcome):  # read meanwhile
                return _resolved(future), None
            if future is not None:
                return future, None
            assert self.scheduler is not None
            rendered = rendered or self.request_for(sample)
            future = self._futures[sample.test_id] = self.scheduler.submit(rendered[1])
            return future, rendered

    def _answer(self, sample: Sample, on_poll: Callable[[], None] | None,
                rendered: tuple[Prompt, Request]) -> Outcome:
        """The sample's outcome (raises EndpointError), kept in place of its future once read."""
        known = self._futures.get(sample.test_id)
        if isinstance(known, Outcome):
            return known
        assert self.scheduler is not None
        outcome = self.scheduler.wait(self._submit(sample, rendered)[0], poll=0.2 if on_poll else 1.0,
                                      on_poll=on_poll)  # bounded: raises EndpointError on a stall
        with self._lock:
            self._futures[sample.test_id] = outcome
            self._sample_locks.pop(sample.test_id, None)  # a late caller makes a new one and finds the answer
        return outcome

    def prefetch(self, samples: Sequence[Sample]) -> None:
        """Start sending this process's share in test order, a bounded window ahead."""
        assert self.scheduler is not None
        window = threading.BoundedSemaphore(max(2 * self.scheduler.concurrency, 8))
        rendered = self._rendered = RenderedAhead(max(2 * self.scheduler.concurrency, 8))

        def feed() -> None:
            for sample in samples:
                while not window.acquire(timeout=0.2):
                    if self._stop.is_set():
                        return
                if self._stop.is_set():
                    return
                try:
                    future, made = self._submit(sample)
                except Exception:  # rendering (the model's chat template: any type) failed: the test itself raises it
                    window.release()
                    continue
                if made is not None and future.done():  # answered at once (the store): kept until its test takes it
                    window.release()
                    rendered.keep(sample.test_id, made, answered=True)
                    rendered.wait_for_room(self._stop)
                    continue
                if made is not None:  # kept while in flight
                    rendered.keep(sample.test_id, made, answered=False)
                future.add_done_callback(lambda _f, test_id=sample.test_id: (rendered.drop(test_id), window.release()))

        self._feeder = threading.Thread(target=feed, name="clue-feeder", daemon=True)
        self._feeder.start()

    def evaluate(self, sample: Sample, *, on_poll: Callable[[], None] | None = None) -> Evaluated:
        """Wait for this sample's response (raises EndpointError) and clean it as CLUE did.

        `on_poll`: called about every 0.2 s while the answer is awaited (the live progress line)."""
        if self.scheduler is None:
            raise EndpointError("not run: no endpoint connection (the run stopped at an error shown above)",
                                url=self.redact(", ".join(self.settings.endpoints)) or "the embedded baseline")
        prompt, request = self._rendered.take(sample.test_id) or self.request_for(sample)
        outcome = self._answer(sample, on_poll, (prompt, request))
        text = outcome.completion.text
        if request.mode == "chat" and self.profile.prefills_assistant_prefix:
            text = strip_echoed_prefix(text, prompt.assistant_prefix)
        assert self.family is not None  # resolved in connect, before the scheduler is kept
        text = self.tasks[sample.task].clean(text, self.family)
        return Evaluated(sample, prompt, request, outcome, text)

    def request_counts(self) -> dict[str, int]:
        """Requests this process sent (answered or failed), answered from the store, or shared."""
        if self.scheduler is None:
            return dict.fromkeys(REQUEST_COUNTS, 0)
        return self.scheduler.counts()

    def progress(self) -> dict[str, Any]:
        """Cheap request counters for the live progress line (empty before connecting)."""
        return self.scheduler.progress() if self.scheduler is not None else {}

    def request_stats(self) -> dict[str, Any] | None:
        """How the requests went (tries, retries, effective concurrency, store problems, replica events)."""
        return None if self.scheduler is None else self.scheduler.stats()

    def close(self) -> None:
        self._stop.set()
        if self.scheduler is not None:
            self.scheduler.close()
        super().close()

    def describe(self) -> dict[str, Any]:
        info = self.info
        return {
            # The embedded baseline's port changes every run; the report names it instead (stable reports).
            "endpoints": [self.redact(u) for u in self.settings.endpoints] or ["embedded parameterless baseline"],
            "server_kind": info.server_kind,
            "model_id": info.model_id,
            "model_revision": info.model_revision,
            "model_revision_source": ("--clue-model-revision" if self.settings.model_revision
                                      else "server" if info.model_revision else None),
            "api": self.renderer.mode if self.renderer else None,
            "profile": self.profile.name,
            "system_role": self.settings.system_role,
            "prompt_layout": self.renderer.layout_used if self.renderer else None,
            "model_family": self.family,
        }
