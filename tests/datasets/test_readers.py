"""The one decoding helper every reader uses: a byte that is not UTF-8 names its line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clue_checks.data.errors import DataError
from clue_checks.data.readers import read_text

REPO = Path(__file__).resolve().parents[2]

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


READERS = ("read_jsonl", "read_json_records", "read_csv")

# Each reader on the file in turn, with its message and this process's peak resident memory since the last
# reset. VmHWM is this process image's own peak (ru_maxrss would carry over a large parent's from the fork);
# writing 5 to clear_refs resets it between readers, and where that is refused the peak only adds up over the
# readers, a stricter bound for the later ones.
GARBAGE_READS = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])  # the clue_checks this test imported, whatever the environment says
from clue_checks.data import readers
from clue_checks.data.errors import DataError
path = Path(sys.argv[2])
for reader in sys.argv[3:]:
    try:
        open("/proc/self/clear_refs", "w").write("5")
    except OSError:
        pass
    try:
        if reader == "read_jsonl":
            readers.read_jsonl(path, ("sentence1",))
        else:
            getattr(readers, reader)(path)
    except DataError as exc:
        print(reader, "message:", exc)
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(reader, "peak_mb:", hwm // 1024, flush=True)
"""


@pytest.fixture(scope="module")
def garbage_reads(tmp_path_factory) -> tuple[Path, list[str]]:
    """A 200 MB line of garbage read by each reader in one child process (its memory, not this test's): the
    file, and the child's output lines."""
    path = tmp_path_factory.mktemp("garbage") / "data.jsonl"
    with path.open("wb") as handle:
        handle.write(b'{"sentence1": "a", "sentence2": "b", "gold_label": "neutral", "pairID": "1"}\n')
        for _ in range(200):
            handle.write(b"\x01garbage" * (1024 * 1024 // 8))
        handle.write(b"\n")
    out = subprocess.run([sys.executable, "-c", GARBAGE_READS, str(REPO), str(path), *READERS], capture_output=True,
                         text=True, timeout=300).stdout
    return path, out.splitlines()


@pytest.mark.slow  # the readers run in a child process, one for all three
@pytest.mark.parametrize("reader", READERS)
def test_a_200_mb_line_of_garbage_is_one_message_without_ballooning_memory(garbage_reads, reader):
    path, lines = garbage_reads
    message = next(line for line in lines if line.startswith(f"{reader} message:"))
    peak = int(next(line for line in lines if line.startswith(f"{reader} peak_mb:")).split()[2])
    assert "line 2" in message and str(path) in message
    assert peak < 300, f"peak {peak} MB for a 200 MB line"  # was over 1 GB: the file in memory several times
