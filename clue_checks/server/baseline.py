"""HTTP server of the parameterless baseline, speaking the TGI and OpenAI APIs.

Stdlib only (``http.server``), so ``pytest`` with no endpoint can run the whole benchmark
offline. This module holds the model and its bookkeeping; what requests it accepts is in
:mod:`clue_checks.server.tgi_requests`, the routes in :mod:`clue_checks.server.handler`. Answers come from :mod:`clue_checks.server.heuristics`; token counts, truncation
and streaming pieces come from the baseline tokenizer in ``baseline_tokenizer/``.

Routes: ``GET /health`` (also ``/`` and ``/ping``), ``GET /info``, ``GET /v1/models``,
``GET /metrics`` (Prometheus text, TGI's metric names), ``POST /generate``, ``POST /generate_stream``,
``POST /`` (TGI compat: a JSON array, or SSE with ``"stream": true``), ``POST /v1/chat/completions``
(optionally SSE), ``POST /v1/completions`` (non-stream), ``POST /tokenize``, ``POST /chat_tokenize``.
A known route asked with another method answers 405 with an ``Allow`` header, as TGI (axum) does;
an unknown route answers 404.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import threading
import time
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from clue_checks.server import clinical_text, heuristics, icd_codes, variants
from clue_checks.server.handler import BaselineHandler
from clue_checks.server.http_base import BaselineHTTPServer
from clue_checks.server.tgi_requests import (  # the limits are read from here too
    MAX_BEST_OF,
    MAX_INPUT_TOKENS,
    MAX_STOP_SEQUENCES,
    MAX_TOTAL_TOKENS,
    Generation,
    RequestError,
)

MODEL_ID = "clue-checks/parameterless-baseline"
TOKENIZER_DIR = Path(__file__).resolve().parent / "baseline_tokenizer"
# The source of the default baseline's answers.
ANSWER_MODULES = (heuristics, clinical_text, icd_codes)


def package_version() -> str:
    for name in ("clue-checks", "clue_checks"):
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "0"


def model_sha(variant: str = variants.DEFAULT) -> str:
    """Short hash of the heuristics' source (its rules and their text helpers) and the tokenizer (and, for
    another variant, of the variants module and its name): changes when answers can change."""
    digest = hashlib.sha256()
    for module in ANSWER_MODULES:
        digest.update(Path(module.__file__).read_bytes())
    digest.update((TOKENIZER_DIR / "tokenizer.json").read_bytes())
    if variant != variants.DEFAULT:
        digest.update(Path(variants.__file__).read_bytes())
        digest.update(variant.encode())
    return digest.hexdigest()[:16]


def model_id(variant: str = variants.DEFAULT) -> str:
    """The default baseline is MODEL_ID; a variant is another model, so stored answers never mix."""
    return MODEL_ID if variant == variants.DEFAULT else f"{MODEL_ID}-{variant}"


# Optional fields are sent as TGI sends them: chat choices carry ``"logprobs": null`` and stream
# chunks ``"usage": null`` (``text_generation.Client.chat()`` requires the key to be present), while
# ``details`` is left out of a ``/generate`` answer that did not ask for it, as TGI does.



class BaselineServer:
    """The baseline model behind a threaded loopback HTTP server.

    ``latency_s`` is slept (holding a concurrency slot) before each generation answer;
    more than ``max_concurrent_requests`` generations in flight get TGI's 429.
    ``request_counts`` counts every POST received on a generation route (any status), per
    route and under ``"total"``; ``tokenize_texts`` counts ``/tokenize`` requests per distinct text
    (by its SHA-256), so a client that asks twice for the same text shows. ``variant``
    (``variants.VARIANTS``) chooses the model: the default heuristics, or ``finetune-degraded``,
    which fails on a planted share of samples.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_s: float = 0.0,
        max_concurrent_requests: int = 64,
        variant: str = variants.DEFAULT,
    ) -> None:
        self.host, self.port = host, port
        self.latency_s = latency_s
        self.max_concurrent_requests = max_concurrent_requests
        self.variant = variant
        self._answer = variants.answerer(variant)  # raises ValueError for an unknown variant
        self.model_id = model_id(variant)
        self.tokenizer = Tokenizer.from_file(str(TOKENIZER_DIR / "tokenizer.json"))
        self.eos_id = self.tokenizer.token_to_id("</s>")
        self.version = package_version()
        self.model_sha = model_sha(variant)
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._tokenized: Counter[str] = Counter()  # SHA-256 of each /tokenize text -> requests for it
        self._outcomes: Counter[str] = Counter()  # "success", or the error_type of a failed generation request
        self._generated_tokens = 0
        self._in_flight = 0
        self._httpd: BaselineHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self._httpd.server_address[1]}"

    def start(self) -> str:
        if self._httpd is not None:
            return self.url
        self._httpd = BaselineHTTPServer((self.host, self.port), BaselineHandler, self)
        # shutdown() waits for the loop to look at its flag: at the default 0.5 s, the end of every run against
        # this server waited up to 0.5 s (0.4 s measured); 0.05 s costs 20 idle wake-ups a second.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="clue-baseline", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()  # idle keep-alive connections would otherwise linger
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> BaselineServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ bookkeeping

    @property
    def request_counts(self) -> Counter[str]:
        """Snapshot: route -> generation requests received, plus ``"total"``."""
        with self._lock:
            return Counter(self._counts)

    @property
    def tokenize_texts(self) -> Counter[str]:
        """Snapshot: SHA-256 of each text sent to ``/tokenize`` -> how many requests asked for it."""
        with self._lock:
            return Counter(self._tokenized)

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()
            self._tokenized.clear()

    def _count_tokenize(self, text: str) -> None:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        with self._lock:
            self._tokenized[digest] += 1

    def _count(self, route: str) -> None:
        with self._lock:
            self._counts[route] += 1
            self._counts["total"] += 1

    def _outcome(self, outcome: str, generated_tokens: int = 0) -> None:
        with self._lock:
            self._outcomes[outcome] += 1
            self._generated_tokens += generated_tokens

    def metrics(self) -> str:
        """Prometheus text exposition (format 0.0.4) under TGI's metric names, so a dashboard or a probe
        built for TGI reads the baseline too. The baseline has no queue: past ``max_concurrent_requests``
        it answers 429 at once, so ``tgi_queue_size`` is always 0."""
        with self._lock:
            total, outcomes = self._counts["total"], Counter(self._outcomes)
            generated, in_flight = self._generated_tokens, self._in_flight
        failures = sorted((err, n) for err, n in outcomes.items() if err != "success")
        lines = [
            "# HELP tgi_request_count Generation requests received (any outcome).",
            "# TYPE tgi_request_count counter",
            f"tgi_request_count {total}",
            "# HELP tgi_request_success Generation requests answered successfully.",
            "# TYPE tgi_request_success counter",
            f"tgi_request_success {outcomes['success']}",
            "# HELP tgi_request_failure Generation requests that failed, by error type.",
            "# TYPE tgi_request_failure counter",
            *(f'tgi_request_failure{{err="{err}"}} {n}' for err, n in failures),
            "# HELP tgi_request_generated_tokens Tokens generated per successful request.",
            "# TYPE tgi_request_generated_tokens summary",
            f"tgi_request_generated_tokens_sum {generated}",
            f"tgi_request_generated_tokens_count {outcomes['success']}",
            "# HELP tgi_queue_size Requests waiting for a batch slot.",
            "# TYPE tgi_queue_size gauge",
            "tgi_queue_size 0",
            "# HELP tgi_batch_current_size Generations in progress.",
            "# TYPE tgi_batch_current_size gauge",
            f"tgi_batch_current_size {in_flight}",
            "# HELP tgi_batch_current_max_tokens Largest number of tokens the current batch may hold.",
            "# TYPE tgi_batch_current_max_tokens gauge",
            f"tgi_batch_current_max_tokens {in_flight * MAX_TOTAL_TOKENS}",
        ]
        return "\n".join(lines) + "\n"

    def _acquire(self) -> None:
        with self._lock:
            if self._in_flight >= self.max_concurrent_requests:
                raise RequestError(429, "Model is overloaded", "overloaded")
            self._in_flight += 1

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def info(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "model_sha": self.model_sha,
            "model_pipeline_tag": "text-generation",
            "max_concurrent_requests": self.max_concurrent_requests,
            "max_best_of": MAX_BEST_OF,
            "max_stop_sequences": MAX_STOP_SEQUENCES,
            "max_input_tokens": MAX_INPUT_TOKENS,
            "max_total_tokens": MAX_TOTAL_TOKENS,
            "validation_workers": 1,
            "max_client_batch_size": 4,
            "router": "clue-checks-baseline",
            "version": self.version,
            "sha": None,
            "docker_label": None,
        }

    @property
    def system_fingerprint(self) -> str:
        return f"{self.version}-{self.model_sha}"

    # ------------------------------------------------------------ model

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def generate(
        self,
        messages: list[dict[str, Any]] | None,
        prompt: str | None,
        max_new_tokens: int | None,
        stop: list[str],
    ) -> Generation:
        """Answer, then cut like a decoder would: at a stop sequence or after N tokens."""
        self._acquire()
        try:
            if self.latency_s > 0:
                time.sleep(self.latency_s)
            try:
                raw = self._answer(messages, prompt, max_new_tokens)
            except Exception as exc:  # a bug in a rule must not kill the connection
                raise RequestError(424, f"Request failed during generation: {exc!r}", "generation") from exc
        finally:
            self._release()
        enc = self.tokenizer.encode(raw, add_special_tokens=False)
        # Running max: tokens splitting one character share offsets; keep ends monotone.
        ends = list(itertools.accumulate((end for _, end in enc.offsets), max))
        if ends:
            ends[-1] = len(raw)
        n_tokens, finish = len(ends), "eos_token"
        stop_hits = [raw.find(s) + len(s) for s in stop if s and s in raw]
        if stop_hits:
            n_tokens, finish = bisect.bisect_left(ends, min(stop_hits)) + 1, "stop_sequence"
        if max_new_tokens is not None and n_tokens > max_new_tokens:
            n_tokens, finish = max_new_tokens, "length"
        cut = [0] + ends[:n_tokens]
        pieces = [raw[cut[i] : cut[i + 1]] for i in range(n_tokens)]
        return Generation("".join(pieces), finish, list(enc.ids[:n_tokens]), pieces)
