"""A simulated continuous-batching LLM server, for benchmarks: it costs time the way a GPU server does.

What it simulates (enough to tell a client's overhead from the server's):

- **continuous batching**: one decode loop; every running sequence gains one token per step, and
  a step takes `step_base + step_per_seq * batch` seconds (a bigger batch is slower per step but
  faster per token), plus `prefill_per_token * prompt tokens` for sequences joining at that step.
  New requests join the batch at the next step; finished ones leave it.
- **a slot limit**: at most `slots` requests in flight; above it the answer is HTTP 429 with TGI's
  body `{"error": "Model is overloaded", "error_type": "overloaded"}`, as TGI answers when its
  `max_concurrent_requests` semaphore is full (https://github.com/huggingface/text-generation-inference,
  router/src/server.rs). `--overflow queue` instead queues them, as vLLM does.
- **deterministic outputs**: the number of generated tokens comes from a hash of the last user
  message (so any client sending the same question costs the server the same work), capped by the
  request's `max_tokens` (then `finish_reason` is "length"). The text is words of the question,
  one word per token, so a summarisation metric sees some overlap with a reference. A question
  that contains `<<say:TEXT>>` is answered with TEXT (one token a word): benchmark data can script
  which samples pass.

Routes: `GET /health`, `GET /v1/models`, `POST /v1/chat/completions` (OpenAI), `GET /info` (TGI,
with `max_concurrent_requests`) unless `--advertise none` (then 404, like vLLM: the client sees no
limit). Benchmark control: `GET /_bench/stats` (counters since the last reset, with the wall-clock
time of the first request) and `POST /_bench/reset` (body `{"record": "/path.jsonl"}` optionally: append
every chat body to that file, so another client can replay exactly the same requests).

The HTTP/1.1 handling is a few lines of asyncio streams (keep-alive, Content-Length bodies), so
the server's own CPU stays small; it is meant to run in its own process, on 127.0.0.1 only:

    python bench/sim_server.py --slots 128 --port 0        # prints "listening on http://127.0.0.1:PORT"

`SimServer(...)` starts it as a subprocess from Python and stops it on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import subprocess
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

OVERLOADED = {"error": "Model is overloaded", "error_type": "overloaded"}
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_SAY = re.compile(r"<<say:(.*?)>>", re.S)
_MARKER = re.compile(r"-{3,}[A-Z ]+-{3,}")  # CLUE's "----PATIENT INQUIRY----" fences are not content
STATUS_TEXT = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 422: "Unprocessable Entity",
               429: "Too Many Requests"}


@dataclass(frozen=True)
class SimConfig:
    slots: int = 128
    step_base_s: float = 0.010  # one decode step of a batch of one
    step_per_seq_s: float = 0.0001  # added per running sequence: a batch of 128 steps in 22.8 ms
    prefill_per_token_s: float = 0.000002  # per prompt token of the sequences joining a step
    min_tokens: int = 8  # generated tokens, uniform in [min, max] by the question's hash
    max_tokens: int = 64
    advertise: str = "tgi"  # "tgi": /info with max_concurrent_requests; "none": no /info (no limit known)
    overflow: str = "429"  # "429": refuse above the slot limit (TGI); "queue": wait for a slot (vLLM)
    model: str = "clue-bench/sim-7b"


@dataclass
class Stats:
    started_wall: float = field(default_factory=time.time)
    first_request_wall: float | None = None  # first HTTP request of any kind since the reset
    first_generation_wall: float | None = None  # first chat completion request since the reset
    last_response_wall: float | None = None
    requests: int = 0
    completed: int = 0
    rejected_429: int = 0
    tokens_out: int = 0
    prompt_tokens: int = 0
    max_in_flight: int = 0
    steps: int = 0


def output_length(question: str, low: int, high: int) -> int:
    digest = hashlib.sha256(question.strip().encode()).digest()
    return low + int.from_bytes(digest[:4], "big") % (high - low + 1)


def answer_text(question: str, n_tokens: int) -> str:
    """n words taken from the question, starting at a hash-chosen place, as a question."""
    words = _WORD.findall(_MARKER.sub(" ", question)) or ["answer"]
    start = int.from_bytes(hashlib.sha256(question.encode()).digest()[4:8], "big") % len(words)
    picked = [words[(start + i) % len(words)] for i in range(n_tokens)]
    return " ".join(picked).capitalize() + "?"


class _Seq:
    __slots__ = ("remaining", "prompt_tokens", "done")

    def __init__(self, remaining: int, prompt_tokens: int, done: asyncio.Future[None]) -> None:
        self.remaining = remaining
        self.prompt_tokens = prompt_tokens
        self.done = done


class Engine:
    """The decode loop: continuous batching with a fixed number of slots."""

    def __init__(self, config: SimConfig, stats: Stats) -> None:
        self.config = config
        self.stats = stats
        self.in_flight = 0  # admitted and not yet answered (running or about to join)
        self._joining: deque[_Seq] = deque()
        self._running: list[_Seq] = []
        self._queued: deque[_Seq] = deque()  # --overflow queue: above the slot limit
        self._wake = asyncio.Event()

    def admit(self) -> bool:
        if self.in_flight >= self.config.slots and self.config.overflow == "429":
            return False
        self.in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, min(self.in_flight, self.config.slots))
        return True

    async def generate(self, n_tokens: int, prompt_tokens: int) -> None:
        seq = _Seq(n_tokens, prompt_tokens, asyncio.get_running_loop().create_future())
        if len(self._running) + len(self._joining) < self.config.slots:
            self._joining.append(seq)
        else:
            self._queued.append(seq)
        self._wake.set()
        try:
            await seq.done
        finally:
            self.in_flight -= 1

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            if not self._running and not self._joining:
                self._wake.clear()
                await self._wake.wait()
                deadline = loop.time()
            while self._queued and len(self._running) + len(self._joining) < self.config.slots:
                self._joining.append(self._queued.popleft())
            prefill = sum(s.prompt_tokens for s in self._joining) * self.config.prefill_per_token_s
            self._running.extend(self._joining)
            self._joining.clear()
            step = self.config.step_base_s + self.config.step_per_seq_s * len(self._running) + prefill
            # Deadlines, not sleeps: the simulated GPU time does not drift with this process's load
            # (a late step is caught up by at most one step, never by a burst).
            deadline = max(deadline + step, loop.time() - step)
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            self.stats.steps += 1
            still = []
            for seq in self._running:
                seq.remaining -= 1
                if seq.remaining <= 0:
                    if not seq.done.done():
                        seq.done.set_result(None)
                else:
                    still.append(seq)
            self._running = still


class SimApp:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.stats = Stats()
        self.engine = Engine(config, self.stats)
        self._record: Any = None

    # -- routes ------------------------------------------------------------------------------

    async def route(self, method: str, path: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        now = time.time()
        if self.stats.first_request_wall is None and not path.startswith("/_bench"):
            self.stats.first_request_wall = now
        if path == "/health" and method == "GET":
            return 200, None, {}
        if path == "/info" and method == "GET":
            if self.config.advertise == "none":
                return 404, {"error": "Not Found"}, {}
            return 200, self._info(), {}
        if path == "/v1/models" and method == "GET":
            return 200, {"object": "list", "data": [{"id": self.config.model, "object": "model", "created": 0,
                                                       "owned_by": "clue-bench-sim"}]}, {}
        if path == "/v1/chat/completions" and method == "POST":
            return await self._chat(body)
        if path == "/_bench/stats" and method == "GET":
            return 200, asdict(self.stats) | {"config": asdict(self.config), "in_flight": self.engine.in_flight}, {}
        if path == "/_bench/reset" and method == "POST":
            return 200, self._reset(json.loads(body) if body else {}), {}
        return 404, {"error": f"no route {method} {path}"}, {}

    def _info(self) -> dict[str, Any]:
        return {"model_id": self.config.model, "model_sha": "0" * 40, "model_pipeline_tag": "text-generation",
                "max_concurrent_requests": self.config.slots, "max_best_of": 2, "max_stop_sequences": 4,
                "max_input_tokens": 30000, "max_total_tokens": 32768, "validation_workers": 2,
                "max_client_batch_size": 4, "router": "text-generation-router", "version": "3.3.6-sim",
                "sha": None, "docker_label": None}

    def _reset(self, options: dict[str, Any]) -> dict[str, Any]:
        if self._record is not None:
            self._record.close()
            self._record = None
        if options.get("record"):
            self._record = open(options["record"], "a", encoding="utf-8")
        self.stats = Stats()
        self.engine.stats = self.stats
        return {"reset": True}

    async def _chat(self, body: bytes) -> tuple[int, Any, dict[str, str]]:
        self.stats.requests += 1
        if self.stats.first_generation_wall is None:
            self.stats.first_generation_wall = time.time()
        try:
            data = json.loads(body)
            messages = data["messages"]
            question = next(m["content"] for m in reversed(messages) if m.get("role") == "user")
            if not isinstance(question, str):  # OpenAI content parts: [{"type": "text", "text": ...}]
                question = " ".join(part.get("text", "") for part in question)
        except (ValueError, KeyError, TypeError, StopIteration, AttributeError) as exc:
            return 422, {"error": f"Input validation error: {exc!r}", "error_type": "validation"}, {}
        if self._record is not None:
            self._record.write(body.decode() + "\n")
            self._record.flush()
        if not self.engine.admit():
            self.stats.rejected_429 += 1
            return 429, OVERLOADED, {}
        scripted = _SAY.search(question)
        wanted = (len(scripted.group(1).split()) or 1) if scripted else \
            output_length(question, self.config.min_tokens, self.config.max_tokens)
        limit = data.get("max_tokens") or data.get("max_completion_tokens") or wanted
        n_tokens = min(wanted, int(limit))
        text = scripted.group(1) if scripted else answer_text(question, n_tokens)
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in messages) // 4  # ~4 characters a token
        await self.engine.generate(n_tokens, prompt_tokens)
        self.stats.completed += 1
        self.stats.tokens_out += n_tokens
        self.stats.prompt_tokens += prompt_tokens
        self.stats.last_response_wall = time.time()
        return 200, {
            "id": "", "object": "chat.completion", "created": int(time.time()), "model": self.config.model,
            "system_fingerprint": "3.3.6-sim",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": None, "finish_reason": "length" if n_tokens < wanted else "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": n_tokens,
                      "total_tokens": prompt_tokens + n_tokens},
        }, {}

    # -- HTTP/1.1 ----------------------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                status, payload, extra = await self.route(method, target.split("?", 1)[0], body)
                content = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
                close = headers.get("connection", "").lower() == "close"
                out = [f"HTTP/1.1 {status} {STATUS_TEXT.get(status, 'Error')}", "content-type: application/json",
                       f"content-length: {len(content)}", "connection: close" if close else "connection: keep-alive"]
                out += [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + content)
                await writer.drain()
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


async def serve(config: SimConfig, host: str, port: int) -> None:
    app = SimApp(config)
    server = await asyncio.start_server(app.handle, host, port, backlog=4096, limit=1 << 20)
    bound = server.sockets[0].getsockname()[1]
    print(f"listening on http://{host}:{bound}", flush=True)
    engine = asyncio.create_task(app.engine.run())
    async with server:
        await server.serve_forever()
    engine.cancel()


def config_from_args(argv: list[str] | None = None) -> tuple[SimConfig, str, int]:
    d = SimConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--slots", type=int, default=d.slots, help="requests in flight before 429 (or queueing)")
    p.add_argument("--step-base", type=float, default=d.step_base_s, help="seconds per decode step, batch of one")
    p.add_argument("--step-per-seq", type=float, default=d.step_per_seq_s, help="seconds added per running sequence")
    p.add_argument("--prefill-per-token", type=float, default=d.prefill_per_token_s)
    p.add_argument("--min-tokens", type=int, default=d.min_tokens)
    p.add_argument("--max-tokens", type=int, default=d.max_tokens)
    p.add_argument("--advertise", choices=("tgi", "none"), default=d.advertise,
                   help="tgi: GET /info gives max_concurrent_requests; none: no /info, no limit known to clients")
    p.add_argument("--overflow", choices=("429", "queue"), default=d.overflow)
    p.add_argument("--model", default=d.model)
    a = p.parse_args(argv)
    config = SimConfig(a.slots, a.step_base, a.step_per_seq, a.prefill_per_token, a.min_tokens, a.max_tokens,
                       a.advertise, a.overflow, a.model)
    return config, a.host, a.port


def main(argv: list[str] | None = None) -> int:
    config, host, port = config_from_args(argv)
    try:
        asyncio.run(serve(config, host, port))
    except KeyboardInterrupt:
        pass
    return 0


class SimServer:
    """The simulator in its own process (its CPU is not the client's): `with SimServer(slots=16) as s: s.url`."""

    def __init__(self, **options: Any) -> None:
        self.args: list[str] = []
        for key, value in options.items():
            self.args += [f"--{key.replace('_', '-')}", str(value)]
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> SimServer:
        self._proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *self.args],
                                      stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.startswith("listening on "):
            self._proc.kill()
            raise RuntimeError(f"sim server did not start: {line!r}")
        self.url = line.split()[-1]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"content-type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
        with opener.open(request, timeout=30) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_bench/stats")

    def reset(self, record: str | Path | None = None) -> None:
        self._call("POST", "/_bench/reset", {"record": str(record)} if record else {})


if __name__ == "__main__":
    raise SystemExit(main())
