"""The response store: keyed by endpoint identity + full request, durable, shared across processes."""

from __future__ import annotations

import multiprocessing

from clue_checks.endpoint.store import ResponseStore
from clue_checks.endpoint.types import Completion, EndpointIdentity, GenerationParams, Message, Request, request_key

TGI = EndpointIdentity("tgi", "org/model", "abc123")


def chat(text: str, max_new_tokens: int = 20) -> Request:
    return Request("chat", GenerationParams(max_new_tokens), messages=(Message("user", text),))


def put(store: ResponseStore, request: Request, completion: Completion) -> None:
    store.put(request_key(TGI, request), TGI, request, completion)


def get(store: ResponseStore, request: Request) -> Completion | None:
    return store.get(request_key(TGI, request))


def test_roundtrip_and_persistence(tmp_path):
    path = tmp_path / "r.sqlite3"
    store = ResponseStore(path)
    put(store, chat("hi"), Completion("hello", "stop", 1, prompt_tokens=7, latency_s=0.25))
    store.close()
    again = ResponseStore(path)
    assert get(again, chat("hi")) == Completion("hello", "stop", 1, prompt_tokens=7, latency_s=0.25)
    assert len(again) == 1


def test_key_depends_on_model_revision_and_every_request_field():
    base = request_key(TGI, chat("hi"))
    assert request_key(EndpointIdentity("tgi", "org/model", "other"), chat("hi")) != base
    assert request_key(EndpointIdentity("vllm", "org/model", "abc123"), chat("hi")) != base
    assert request_key(TGI, chat("hi", 21)) != base
    assert request_key(TGI, chat("hi ")) != base
    generate = Request("generate", GenerationParams(20), prompt="hi")
    assert request_key(TGI, generate) != base
    assert request_key(TGI, chat("hi")) == base


def _writer(path, start):
    store = ResponseStore(path)
    for i in range(start, start + 50):
        put(store, chat(str(i)), Completion(str(i)))


def test_several_processes_write_one_store(tmp_path):
    path = tmp_path / "r.sqlite3"
    ResponseStore(path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, k * 50)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    store = ResponseStore(path)
    assert len(store) == 150
    assert get(store, chat("123")) == Completion("123")
