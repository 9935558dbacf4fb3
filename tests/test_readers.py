"""The one decoding helper every reader uses: a byte that is not UTF-8 names its line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clue_checks.data.errors import DataError
from clue_checks.data.readers import read_text

good_line = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=8)


@given(before=st.lists(good_line, max_size=5), head=good_line, bad=st.sampled_from([b"\x80", b"\xe9", b"\xff", b"\xc3("]),
       bom=st.booleans())
def test_the_line_and_byte_named_are_where_the_bad_byte_is(tmp_path_factory, before, head, bad, bom):
    path = tmp_path_factory.mktemp("r") / "data.jsonl"
    prefix = "".join(line + "\n" for line in before).encode() + head.encode()
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + prefix + bad + b" tail\n")
    with pytest.raises(DataError) as info:
        read_text(path)
    assert info.value.where == f"line {len(before) + 1}"
    assert f"byte 0x{bad[:1].hex()} at byte {len(head.encode()) + 1} of the line" in info.value.problem
    assert info.value.path == path and info.value.hint and "UTF-8" in info.value.hint


def test_utf8_with_or_without_a_byte_order_mark_reads(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"\xef\xbb\xbfa,b\n\xc3\xa9,x\n")
    assert read_text(path) == "a,b\né,x\n"
