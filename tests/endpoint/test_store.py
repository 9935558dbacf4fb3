"""The response store: keyed by endpoint identity + full request, durable, shared across processes."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time

import pytest

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


# -- text is kept exactly -------------------------------------------------------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from clue_checks.endpoint.store import BadRow, Lease, StoreError  # noqa: E402
from clue_checks.endpoint.types import utf8_safe  # noqa: E402

ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=40)  # lone surrogates included


@pytest.fixture(scope="module")
def one_store(tmp_path_factory):
    store = ResponseStore(tmp_path_factory.mktemp("s") / "r.sqlite3")
    yield store
    store.close()


@given(text=ANY_TEXT)
def test_any_text_is_stored_and_read_back_exactly(one_store, text):
    put(one_store, chat(text), Completion(text, "stop"))
    assert get(one_store, chat(text)) == Completion(text, "stop")


@given(text=ANY_TEXT)
def test_utf8_safe_text_always_encodes_and_leaves_valid_text_alone(text):
    shown = utf8_safe(text)
    shown.encode("utf-8")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        assert "\\ud" in shown or "\\ue" in shown or "\\udc" in shown
    else:
        assert shown is text  # not an equal copy: a run keeps every sample's prompt, once


@pytest.mark.parametrize("row", ['{"text": "trunc', "[1, 2]", '{"text": 5}', '{"text": "a", "generated_tokens": "3"}'])
def test_a_row_that_is_not_a_completion_is_a_bad_row(tmp_path, row):
    store = ResponseStore(tmp_path / "r.sqlite3")
    put(store, chat("hi"), Completion("hello"))
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE responses SET completion = ?", (row,))
    conn.commit()
    conn.close()
    with pytest.raises(BadRow) as caught:
        get(store, chat("hi"))
    assert str(store.path) in str(caught.value) and "asked again" in str(caught.value)
    assert isinstance(caught.value, StoreError)


# -- leases ---------------------------------------------------------------------------------------------


def test_a_lease_makes_another_run_wait_and_an_answer_ends_the_wait(tmp_path):
    path = tmp_path / "r.sqlite3"
    mine, theirs = ResponseStore(path), ResponseStore(path)
    me, other = Lease.mine(), Lease.mine()
    key = request_key(TGI, chat("hi"))
    assert mine.claim(key, me).acquired
    assert mine.claim(key, me).acquired  # our own lease again: still ours
    held = theirs.claim(key, other)
    assert not held.acquired and held.holder == f"pid {os.getpid()} on {me.host}"
    assert theirs.peek(key, other) == held
    mine.put(key, TGI, chat("hi"), Completion("hello"), me)  # the answer, and the lease handed back
    assert theirs.peek(key, other).completion == Completion("hello")
    assert theirs.claim(key, other).completion == Completion("hello")


def test_a_lease_of_a_dead_process_or_past_its_expiry_is_taken_over(tmp_path):
    path = tmp_path / "r.sqlite3"
    store = ResponseStore(path, lease_seconds=0.2)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    ghost = Lease("ghost", Lease.mine().host, int(dead.stdout))
    alive = Lease("alive", Lease.mine().host, os.getpid())
    me = Lease.mine()
    for i, owner in enumerate((ghost, alive)):
        assert store.claim(f"k{i}", owner).acquired
    assert store.claim("k0", me).acquired  # its process is gone
    assert not store.claim("k1", me).acquired  # alive and within its expiry
    time.sleep(0.25)
    assert store.claim("k1", me).acquired  # it stopped renewing


def test_renew_keeps_a_lease_and_release_all_hands_them_back(tmp_path):
    store = ResponseStore(tmp_path / "r.sqlite3", lease_seconds=0.3)
    owner, me = Lease("owner", Lease.mine().host, os.getpid()), Lease.mine()
    store.claim("a", owner)
    store.claim("b", owner)
    time.sleep(0.2)
    store.renew(owner)
    time.sleep(0.2)
    assert not store.claim("a", me).acquired  # renewed: still held
    store.release_all(owner)
    assert store.claim("a", me).acquired and store.claim("b", me).acquired
