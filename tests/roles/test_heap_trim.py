"""A CLUE session hands the C allocator's free pages back every so many tests, where the C library can."""

from __future__ import annotations

import sys

import pytest

from clue_checks.roles.heap_trim import HeapTrim, malloc_trim


def test_it_trims_once_every_so_many_tests():
    calls: list[int] = []
    trim = HeapTrim(every=3, trim=lambda pad: calls.append(pad) or 1)
    for _ in range(7):
        trim.tick()
    assert calls == [0, 0]  # after the 3rd and the 6th test, keeping no padding at the top of the heap
    assert trim.trims == 2


def test_without_the_call_nothing_is_done(monkeypatch):
    monkeypatch.setattr("clue_checks.roles.heap_trim.malloc_trim", lambda: None)
    trim = HeapTrim(every=1)
    trim.tick()
    assert trim.trims == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim: Linux")
def test_glibc_call_is_found_and_callable():
    found = malloc_trim()
    if found is None:
        pytest.skip("a C library without malloc_trim (musl)")
    assert found(0) in (0, 1)  # 1: memory was released, 0: there was none to release
