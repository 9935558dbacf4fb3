"""HTTP server of the parameterless baseline, speaking the TGI and OpenAI APIs.

Stdlib only (``http.server``), so ``pytest`` with no endpoint can run the whole benchmark
offline. Answers come from :mod:`clue_checks.server.heuristics`; token counts, truncation
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
import json
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from clue_checks.server import heuristics, variants

MODEL_ID = "clue-checks/parameterless-baseline"
TOKENIZER_DIR = Path(__file__).resolve().parent / "baseline_tokenizer"
GENERATION_ROUTES = ("/generate", "/generate_stream", "/", "/v1/chat/completions", "/v1/completions")
GET_ROUTES = ("/health", "/", "/ping", "/info", "/v1/models", "/metrics")
POST_ROUTES = GENERATION_ROUTES + ("/tokenize", "/chat_tokenize")
MAX_STOP_SEQUENCES = 4
MAX_BEST_OF = 2
MAX_INPUT_TOKENS = 1_000_000
MAX_TOTAL_TOKENS = 1_000_200


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for name in ("clue-checks", "clue_checks"):
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "0"


def model_sha(variant: str = variants.DEFAULT) -> str:
    """Short hash of the heuristics source and the tokenizer (and, for another variant, of the variants
    module and its name): changes when answers can change."""
    digest = hashlib.sha256(Path(heuristics.__file__).read_bytes())
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


class RequestError(Exception):
    """An error answer: JSON ``{"error", "error_type"}``, or plain text if ``error_type`` is None."""

    def __init__(self, status: int, message: str, error_type: str | None = "validation") -> None:
        super().__init__(message)
        self.status, self.message, self.error_type = status, message, error_type


def _invalid(message: str) -> RequestError:
    return RequestError(422, f"Input validation error: {message}")


@dataclass(frozen=True)
class Generation:
    text: str
    finish_reason: str  # TGI vocabulary: "length" | "eos_token" | "stop_sequence"
    token_ids: list[int]
    pieces: list[str]  # the text of each token; "".join(pieces) == text


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
        self._httpd: _HTTPServer | None = None
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
        self._httpd = _HTTPServer((self.host, self.port), _Handler, self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="clue-baseline", daemon=True)
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


# ---------------------------------------------------------------- request parsing


def _reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (RFC 8259); serde_json, hence TGI, rejects them."""
    raise ValueError(f"{name} is not valid JSON")


def _opt_number(params: dict[str, Any], key: str) -> float | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(422, f"Failed to deserialize the JSON body into the target type: {key}: invalid type", None)
    return float(value)


def _check_sampling(params: dict[str, Any], *, chat: bool) -> None:
    """TGI's validation of the sampling parameters (router ``validation.rs``)."""
    temperature = _opt_number(params, "temperature")
    if temperature is not None and (temperature < 0 if chat else temperature <= 0):
        raise _invalid("`temperature` must be strictly positive")
    top_p = _opt_number(params, "top_p")
    if top_p is not None and not 0.0 < top_p < 1.0:
        raise _invalid("`top_p` must be > 0.0 and < 1.0")
    top_k = _opt_number(params, "top_k")
    if top_k is not None and top_k <= 0:
        raise _invalid("`top_k` must be strictly positive")
    typical_p = _opt_number(params, "typical_p")
    if typical_p is not None and not 0.0 < typical_p < 1.0:
        raise _invalid("`typical_p` must be > 0.0 and < 1.0")
    repetition_penalty = _opt_number(params, "repetition_penalty")
    if repetition_penalty is not None and repetition_penalty <= 0:
        raise _invalid("`repetition_penalty` must be strictly positive")


def _max_tokens(params: dict[str, Any], key: str) -> int | None:
    value = _opt_number(params, key)
    if value is None:
        return None
    if value <= 0:
        raise _invalid("`max_new_tokens` must be strictly positive")
    if value > MAX_TOTAL_TOKENS:
        raise _invalid(f"`max_new_tokens` must be <= {MAX_TOTAL_TOKENS}. Given: {int(value)}")
    return int(value)


def _stop(params: dict[str, Any]) -> list[str]:
    stop = params.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise RequestError(422, "Failed to deserialize the JSON body into the target type: stop: invalid type", None)
    if len(stop) > MAX_STOP_SEQUENCES:
        raise _invalid(f"`stop` supports up to {MAX_STOP_SEQUENCES} stop sequences. Given: {len(stop)}")
    return stop


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
        raise RequestError(422, "Failed to deserialize the JSON body into the target type: messages", None)
    if not messages:
        raise _invalid("`messages` cannot be empty")
    return messages


def _token_dicts(gen: Generation) -> list[dict[str, Any]]:
    """TGI ``Token`` objects; logprob 0.0 because a deterministic model is certain of each token."""
    return [
        {"id": i, "text": t, "logprob": 0.0, "special": False}
        for i, t in zip(gen.token_ids, gen.pieces, strict=True)
    ]


# ---------------------------------------------------------------- HTTP plumbing


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # bursts of parallel clients must not be refused at accept()

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], app: BaselineServer) -> None:
        self.app = app
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-request (Ctrl-C on a run, a cancelled request) is not a server fault.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conns_lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # silent: the plugin's output must not be interleaved with access logs

    @property
    def app(self) -> BaselineServer:
        return self.server.app

    # ------------------------------------------------------------ responses

    def _send(self, status: int, body: bytes, content_type: str | None, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json", headers)

    def _error(self, err: RequestError) -> None:
        if err.error_type is None:
            self._send(err.status, err.message.encode(), "text/plain; charset=utf-8")
        else:
            self._json(err.status, {"error": err.message, "error_type": err.error_type})

    _sse_started = False

    def _sse(self, events: Iterator[str]) -> None:
        """Server-sent events; the connection closes at the end (no chunked encoding needed)."""
        self._sse_started = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Accel-Buffering", "no")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for event in events:
            self.wfile.write(f"data: {event}\n\n".encode())
            self.wfile.flush()

    # ------------------------------------------------------------ dispatch

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    def _method_not_allowed(self) -> None:
        """TGI (axum) answers a known route asked with the wrong method with 405 and ``Allow``; an unknown
        route is 404 whatever the method. Unlike http.server's HTML 501, the answer is JSON."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            self.rfile.read(length)  # keep the connection's framing for the next request
        path = self._path()
        allowed = (["GET", "HEAD"] if path in GET_ROUTES else []) + (["POST"] if path in POST_ROUTES else [])
        if not allowed:
            self._send(404, b"", None)
            return
        self._json(405, {"error": f"Method Not Allowed: {self.command} {path} (allowed: {', '.join(allowed)})",
                         "error_type": "method_not_allowed"}, {"Allow": ", ".join(allowed)})

    def __getattr__(self, name: str) -> Any:
        # http.server looks up ``do_<METHOD>`` and answers HTML 501 when it is missing: every other method
        # (PUT, DELETE, PATCH, OPTIONS, …) gets the JSON 405/404 instead.
        if name.startswith("do_"):
            return self._method_not_allowed
        raise AttributeError(name)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = self._path()
        if path in ("/health", "/", "/ping"):
            self._send(200, b"", None)
        elif path == "/info":
            self._json(200, self.app.info())
        elif path == "/v1/models":
            model = {"id": self.app.model_id, "object": "model", "created": 0, "owned_by": self.app.model_id}
            self._json(200, {"object": "list", "data": [model]})
        elif path == "/metrics":
            self._send(200, self.app.metrics().encode(), "text/plain; version=0.0.4; charset=utf-8")
        else:
            self._method_not_allowed()

    do_HEAD = do_GET  # noqa: N815 - axum (TGI) answers HEAD on every GET route; _send omits the body

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        path = self._path()
        routes = {
            "/generate": self._generate,
            "/generate_stream": self._generate_stream,
            "/": self._compat,
            "/v1/chat/completions": self._chat,
            "/v1/completions": self._completions,
            "/tokenize": self._tokenize,
            "/chat_tokenize": self._chat_tokenize,
        }
        handler = routes.get(path)
        if handler is None:
            self._method_not_allowed()
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        generation = path in GENERATION_ROUTES
        if generation:
            self.app._count(path)
        try:
            try:
                body = json.loads(raw, parse_constant=_reject_constant)
            except (ValueError, UnicodeDecodeError) as exc:
                raise RequestError(400, f"Failed to parse the request body as JSON: {exc}", None) from exc
            if not isinstance(body, dict):
                raise RequestError(422, "Failed to deserialize the JSON body into the target type", None)
            generated = handler(body)
            if generation:
                self.app._outcome("success", generated or 0)
        except RequestError as err:
            if generation:
                self.app._outcome(err.error_type or "deserialize")
            self._error(err)
        except Exception as exc:  # a bug here must answer, not drop the connection (clients would retry)
            if generation:
                self.app._outcome("incomplete_generation")
            if self._sse_started:
                raise
            self._error(RequestError(500, f"Internal error in the baseline server: {exc!r}", "incomplete_generation"))

    # ------------------------------------------------------------ TGI

    def _parse_generate(self, body: dict[str, Any]) -> tuple[str, dict[str, Any], int | None, list[str]]:
        inputs = body.get("inputs")
        params = body.get("parameters") or {}
        if not isinstance(inputs, str) or not isinstance(params, dict):
            raise RequestError(422, "Failed to deserialize the JSON body into the target type: inputs", None)
        if not inputs:
            raise _invalid("`inputs` cannot be empty")
        _check_sampling(params, chat=False)
        max_new = _max_tokens(params, "max_new_tokens")
        stop = _stop(params)
        best_of = _opt_number(params, "best_of")
        if best_of is not None and not 0 < best_of <= MAX_BEST_OF:
            raise _invalid(f"`best_of` must be > 0 and <= {MAX_BEST_OF}. Given: {int(best_of)}")
        truncate = _opt_number(params, "truncate")
        if truncate is not None:
            if not 0 < truncate <= MAX_INPUT_TOKENS:
                raise _invalid(
                    f"`truncate` must be strictly positive and less than {MAX_INPUT_TOKENS}. Given: {int(truncate)}"
                )
            inputs = self._keep_last_tokens(inputs, int(truncate))
        return inputs, params, max_new, stop

    def _keep_last_tokens(self, text: str, n: int) -> str:
        """TGI ``truncate``: the model sees only the last ``n`` input tokens."""
        offsets = self.app.tokenizer.encode(text, add_special_tokens=False).offsets
        return text if len(offsets) <= n else text[offsets[-n][0] :]

    def _generate_response(self, body: dict[str, Any]) -> tuple[dict[str, Any], Generation]:
        inputs, params, max_new, stop = self._parse_generate(body)
        gen = self.app.generate(None, inputs, max_new, stop)
        text = (body["inputs"] + gen.text) if params.get("return_full_text") else gen.text
        out: dict[str, Any] = {"generated_text": text}
        if params.get("details"):
            sampling = bool(params.get("do_sample"))
            out["details"] = {
                "finish_reason": gen.finish_reason,
                "generated_tokens": len(gen.token_ids),
                "seed": params.get("seed") if sampling else None,
                "prefill": [],
                "tokens": _token_dicts(gen),
            }
        return out, gen

    def _headers(self, gen: Generation) -> dict[str, str]:
        return {"x-compute-type": "cpu+baseline", "x-generated-tokens": str(len(gen.token_ids))}

    # Generation handlers return the number of tokens generated (for /metrics).

    def _generate(self, body: dict[str, Any]) -> int:
        out, gen = self._generate_response(body)
        self._json(200, out, self._headers(gen))
        return len(gen.token_ids)

    def _compat(self, body: dict[str, Any]) -> int:
        if body.get("stream"):
            return self._generate_stream(body)
        out, gen = self._generate_response(body)
        self._json(200, [out], self._headers(gen))
        return len(gen.token_ids)

    def _generate_stream(self, body: dict[str, Any]) -> int:
        inputs, params, max_new, stop = self._parse_generate(body)
        gen = self.app.generate(None, inputs, max_new, stop)
        input_length = self.app.count_tokens(inputs)
        full = (body["inputs"] + gen.text) if params.get("return_full_text") else gen.text
        tokens = _token_dicts(gen)
        if not tokens:  # nothing but EOS
            tokens = [{"id": self.app.eos_id, "text": "", "logprob": 0.0, "special": True}]

        def events() -> Iterator[str]:
            for index, token in enumerate(tokens, start=1):
                last = index == len(tokens)
                details = None
                if last and params.get("details"):
                    details = {
                        "finish_reason": gen.finish_reason,
                        "generated_tokens": len(gen.token_ids),
                        "seed": None,
                        "input_length": input_length,
                    }
                event: dict[str, Any] = {"index": index, "token": token, "generated_text": full if last else None}
                if details is not None:
                    event["details"] = details
                yield json.dumps(event)

        self._sse(events())
        return len(gen.token_ids)

    def _tokenize(self, body: dict[str, Any]) -> None:
        inputs = body.get("inputs")
        if not isinstance(inputs, str):
            raise RequestError(422, "Failed to deserialize the JSON body into the target type: inputs", None)
        self.app._count_tokenize(inputs)
        self._json(200, self._simple_tokens(inputs))

    def _simple_tokens(self, text: str) -> list[dict[str, Any]]:
        """TGI ``SimpleToken`` list; like TGI (Rust), ``start``/``stop`` are UTF-8 byte offsets."""
        enc = self.app.tokenizer.encode(text, add_special_tokens=False)
        ascii_only = text.isascii()
        byte_at = (lambda i: i) if ascii_only else (lambda i: len(text[:i].encode()))
        return [
            {"id": tid, "text": text[s:e], "start": byte_at(s), "stop": byte_at(e)}
            for tid, (s, e) in zip(enc.ids, enc.offsets, strict=True)
        ]

    def _chat_tokenize(self, body: dict[str, Any]) -> None:
        templated = heuristics.render_chat(_messages(body))
        self._json(200, {"tokenize_response": self._simple_tokens(templated), "templated_text": templated})

    # ------------------------------------------------------------ OpenAI

    def _chat(self, body: dict[str, Any]) -> int:
        messages = _messages(body)
        _check_sampling(body, chat=True)
        max_new = _max_tokens(body, "max_completion_tokens") or _max_tokens(body, "max_tokens")
        gen = self.app.generate(messages, None, max_new, _stop(body))
        prompt_tokens = self.app.count_tokens(heuristics.render_chat(messages))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(gen.token_ids),
                 "total_tokens": prompt_tokens + len(gen.token_ids)}
        finish = "length" if gen.finish_reason == "length" else "stop"
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        common = {"id": ident, "created": created, "model": self.app.model_id,
                  "system_fingerprint": self.app.system_fingerprint}
        if not body.get("stream"):
            choice = {"index": 0, "message": {"role": "assistant", "content": gen.text}, "logprobs": None,
                      "finish_reason": finish}
            self._json(200, {**common, "object": "chat.completion", "choices": [choice], "usage": usage},
                       self._headers(gen))
            return len(gen.token_ids)
        stream_options = body.get("stream_options") or {}
        if not isinstance(stream_options, dict):
            raise RequestError(422, "Failed to deserialize the JSON body into the target type: stream_options", None)
        include_usage = bool(stream_options.get("include_usage"))
        pieces = gen.pieces or [""]

        def events() -> Iterator[str]:
            for n, piece in enumerate(pieces, start=1):
                choice = {"index": 0, "delta": {"role": "assistant", "content": piece}, "logprobs": None,
                          "finish_reason": finish if n == len(pieces) else None}
                yield json.dumps({**common, "object": "chat.completion.chunk", "choices": [choice], "usage": None})
            if include_usage:
                yield json.dumps({**common, "object": "chat.completion.chunk", "choices": [], "usage": usage})
            yield "[DONE]"

        self._sse(events())
        return len(gen.token_ids)

    def _completions(self, body: dict[str, Any]) -> int:
        prompt = body.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            raise RequestError(422, "Failed to deserialize the JSON body into the target type: prompt", None)
        if len(prompts) > 4:
            raise _invalid(f"Number of prompts must be <= 4. Given: {len(prompts)}")
        if body.get("stream"):
            raise _invalid("streaming is not supported on /v1/completions by the baseline")
        _check_sampling(body, chat=True)
        max_new, stop = _max_tokens(body, "max_tokens"), _stop(body)
        choices, prompt_tokens, completion_tokens = [], 0, 0
        for index, text in enumerate(prompts):
            gen = self.app.generate(None, text, max_new, stop)
            finish = "length" if gen.finish_reason == "length" else "stop"
            choices.append({"index": index, "text": gen.text, "finish_reason": finish, "logprobs": None})
            prompt_tokens += self.app.count_tokens(text)
            completion_tokens += len(gen.token_ids)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        self._json(200, {"id": f"cmpl-{uuid.uuid4().hex[:24]}", "object": "text_completion",
                         "created": int(time.time()), "model": self.app.model_id,
                         "system_fingerprint": self.app.system_fingerprint, "choices": choices, "usage": usage})
        return completion_tokens
