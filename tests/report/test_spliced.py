"""Prediction lines with the texts' JSON spliced in from the spool: byte for byte the lines `json.dumps` of the
filled record writes, whatever the texts; and the page's first pass found as the lines are written."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from clue_checks.record import SampleRecord
from clue_checks.report.build import RunFacts, build_report
from clue_checks.report.numbers.aggregate import TaskSpec
from clue_checks.report.write import html
from clue_checks.report.write.folder import prediction_rows, write_files, write_folder
from clue_checks.report.write.html_rows import KEPT_CHARS
from clue_checks.report.write.html_rows import rows_of
from clue_checks.report.write.page_rows import HEAD_BYTES, TAIL_BYTES, kept_prompt, page_rows
from clue_checks.report.write.pieces import prediction_row, read_predictions
from clue_checks.report.write.spliced import PageFacts, decoded_start, dumps_spliced, prediction_lines
from clue_checks.text_spool import SpoolReader, TextRef, TextSpool, TextSpoolError

# Any code point: lone surrogates, quotes, backslashes, control characters, U+2028, non-BMP characters.
ANY_TEXT = st.text(st.characters(exclude_categories=()) | st.sampled_from(["\ud800", "\udfff", '"', "\\", "\n", "\x00", "é"]),
                   max_size=40)
# Texts that part where JSON escapes differ in their first bytes (`\n` / `\"` / `\u0001`) or UTF-8 shares a lead byte.
NEAR = st.text(st.sampled_from(['"', "\\", "\n", "\r", "\x01", "\x1f", "é", "è", "\u2028", "\u2029", "😀", "😁",
                                "\ud800", "a", " "]), max_size=12)


def _expected(record: SampleRecord) -> bytes:
    """What a text file opened with encoding="utf-8" wrote for the filled record's row (raises as it raised)."""
    return (json.dumps(prediction_row(record.filled()), ensure_ascii=False) + os.linesep).encode("utf-8")


def _outcome(make):
    try:
        return make()
    except UnicodeEncodeError as exc:
        return ("UnicodeEncodeError", str(exc))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=st.none() | ANY_TEXT, response=st.none() | ANY_TEXT, reference=st.none() | ANY_TEXT,
       reason=ANY_TEXT, sample_id=ANY_TEXT, kinds=st.lists(ANY_TEXT, max_size=2))
def test_a_spliced_line_is_the_line_json_dumps_writes(tmp_path, prompt, response, reference, reason, sample_id,
                                                      kinds):
    record = SampleRecord("meqsum", sample_id, 0, "failed", metrics={"rougeL": 0.25, "é": None}, reason=reason,
                          response=response, reference=reference, prompt=prompt, kinds=tuple(kinds),
                          parsed=reason, latency_s=1.5)
    spooled = record.spooled(TextSpool(tmp_path / f"{os.getpid()}-{id(record)}.texts"))
    assert spooled.texts is not None and spooled.texts.parts is not None

    def lines() -> bytes:
        with SpoolReader() as reader:
            return b"".join(prediction_lines("meqsum", [spooled], reader, PageFacts()))
    assert _outcome(lines) == _outcome(lambda: _expected(spooled))


@given(row=st.dictionaries(ANY_TEXT, st.none() | ANY_TEXT | st.integers() | st.floats(allow_nan=False)
                           | st.lists(ANY_TEXT, max_size=2), min_size=1, max_size=5), data=st.data())
def test_any_values_spliced_into_any_row_come_out_as_json_dumps_writes_them(row, data):
    spliced = data.draw(st.sets(st.sampled_from(sorted(row))))
    fragments = {k: json.dumps(row[k], ensure_ascii=False).encode("utf-8", "surrogatepass") for k in spliced}
    expected = _outcome(lambda: json.dumps(row, ensure_ascii=False).encode("utf-8"))
    if isinstance(expected, tuple) and not any(b"\xed" in f for f in fragments.values()):
        with pytest.raises(UnicodeEncodeError):  # a lone surrogate outside the spliced values: the same error
            dumps_spliced(row, fragments)
    elif not isinstance(expected, tuple):
        line = dumps_spliced(row, fragments)
        assert line == expected or line is None
        # None only where another value holds a marker's JSON (a NUL), so the places cannot be told
        assert line is not None or "\x00" in json.dumps(row)


def test_a_value_that_holds_a_marker_leaves_the_row_to_be_encoded_whole():
    row = {"a": "\x000", "b": 'x"\x001', "c": "text"}
    assert dumps_spliced(row, {"c": b'"text"'}) is None
    assert dumps_spliced({"a": "\x00a", "c": "text"}, {"c": b'"text"'}) == b'{"a": "\\u0000a", "c": "text"}'


@settings(max_examples=300, deadline=None)
@given(start=NEAR, rests=st.lists(NEAR, min_size=1, max_size=4))
def test_the_shared_prompt_start_found_on_the_prompts_json_is_the_texts(start, rests):
    prompts = [start + rest for rest in rests]
    facts = PageFacts()
    for i, prompt in enumerate(prompts):  # spliced rows give their prompt's JSON, rows read back whole the text
        record = SampleRecord("meqsum", f"s{i}", i, "passed", kinds=("k",))
        facts.add("meqsum", record, prompt if i % 3 == 2 else
                  json.dumps(prompt, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    known = facts.known()
    assert known is not None
    light, shared = known
    assert light == [{"task": "meqsum", "kinds": ["k"]}] * len(prompts)
    assert shared == {"meqsum": os.path.commonprefix(prompts) if len(prompts) > 1 else ""}


@settings(max_examples=200, deadline=None)
@given(shared=NEAR, head=st.text(st.sampled_from(["é", "\x01", '"', "a", "\u2028", "😀", " "]), min_size=0, max_size=600),
       middle=st.integers(0, 9000), tail=st.lists(NEAR, min_size=1, max_size=30), repeats=st.integers(0, 3_000) | st.integers(10_000, 14_000))
def test_a_prompt_kept_from_two_windows_of_its_json_is_its_start_and_end(shared, head, middle, tail, repeats):
    """The head window starts after the shared start's JSON, the tail window at a space: any escapes, UTF-8,
    surrogates about their edges. Where it answers, the prompt's first len(shared) + 500 and last 1,500."""
    end = " ".join(tail) + " "
    prompt = shared + head + "\x1f" * (middle // 6) + "é" * (middle % 6) + end * (repeats // len(end))
    fragment = json.dumps(prompt, ensure_ascii=False).encode("utf-8", "surrogatepass")
    text, start = decoded_start(json.dumps(shared, ensure_ascii=False).encode("utf-8", "surrogatepass")[:-1])
    assert text == shared
    kept = kept_prompt(fragment, len(prompt), shared, start)
    event("from two windows" if kept is not None else "whole")
    if len(prompt) - len(shared) > 2000 and len(fragment) > start + HEAD_BYTES + TAIL_BYTES + 1 \
            and b" " in fragment[len(fragment) - 1 - TAIL_BYTES:][:256]:
        assert kept == prompt[:len(shared) + 500] + prompt[-1500:]
    else:
        assert kept is None


def test_a_long_prompt_is_kept_from_its_windows():
    shared, prompt = "[system] shots é\n", "[system] shots é\n" + "doc\u2028 \"x\"\n" * 3000
    text, start = decoded_start(json.dumps(shared, ensure_ascii=False).encode()[:-1])
    kept = kept_prompt(json.dumps(prompt, ensure_ascii=False).encode(), len(prompt), text, start)
    assert kept == prompt[:len(shared) + 500] + prompt[-1500:]


def test_a_row_of_another_task_leaves_the_page_to_read_the_rows_itself():
    facts = PageFacts()
    facts.add("meqsum", SampleRecord("mednli", "s", 0, "passed"), None)
    assert facts.known() is None


def _records(prefix: str) -> list[SampleRecord]:
    odd = "line\u2028separator, \x85, é, \"quotes\", \\ back\n"
    records = [SampleRecord("meqsum", f"s{i}", i, "failed" if i % 2 else "passed", metrics={"rougeL": 0.1 * i},
                            reason="why", response=f"answer {i} {odd}", reference=None if i == 2 else f"ref {i}",
                            kinds=("low_overlap",) if i % 2 else (),
                            prompt=f"{prefix}{'system <&> ' * 300}é\"q{i} " + "doc\u2028 " * (900 + i) * (1 + 3 * (i % 2)))
               for i in range(5)]
    return records + [SampleRecord("meqsum", "s5", 5, "error", prompt=None),
                      SampleRecord("mednli", "m0", 0, "passed", prompt="one prompt only")]


SPECS = (TaskSpec("meqsum", "MeQSum", 1, ("rougeL",)), TaskSpec("mednli", "MedNLI", 1, ("accuracy",)))


@pytest.mark.parametrize("redacted", [False, True])
def test_the_folder_of_spooled_records_is_that_of_whole_records_and_of_the_page_of_all_rows(tmp_path, redacted):
    """write_folder (lines spliced, the page's first pass kept as they are written) against whole records, and
    its page against `html.write_page` of all rows at once."""
    facts = RunFacts(run={"model_id": "m", "redacted": redacted}, manifest={}, specs=SPECS)
    whole = _records("")
    spooled = build_report([r.spooled(TextSpool(tmp_path / "main.texts")) for r in whole], facts)
    write_folder(tmp_path / "a", build_report(whole, facts))
    write_folder(tmp_path / "b", spooled)
    names = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert {"index.html", "predictions/meqsum.jsonl"} <= {str(n) for n in names}
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    (tmp_path / "whole").mkdir()
    html.write_page(tmp_path / "whole", spooled.as_dict(), rows_of(prediction_rows(spooled)))
    assert (tmp_path / "b" / "index.html").read_bytes() == (tmp_path / "whole" / "index.html").read_bytes()
    page = PageFacts()  # the long prompts were decoded from two windows, not whole
    write_files(tmp_path / "d", spooled, page)
    kept_rows = [r for rs in page_rows(spooled.records_to_write(), page).values() for r in rs if KEPT_CHARS in r]
    assert len(kept_rows) == (0 if redacted else 2)
    # Texts that lie in a prediction file (the merge) are read back whole: the same folder again.
    apart = build_report([r for rs in read_predictions(tmp_path / "b", texts_apart=True).values() for r in rs], facts)
    write_folder(tmp_path / "c", apart)
    for name in names:  # the page too: its shared starts found on the texts read back
        assert (tmp_path / "c" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_a_spool_ref_crosses_the_wire_with_where_its_texts_lie(tmp_path):
    texts = {"prompt": "p é", "response": None, "reference": "r"}
    ref = TextSpool(tmp_path / "gw0.texts").put(texts)
    assert ref.parts == (len('"p é"'.encode()), 4, 3) and ref.chars == 3
    assert (tmp_path / "gw0.texts").read_bytes() == (json.dumps(texts, ensure_ascii=False) + "\n").encode()  # as before
    assert TextRef.from_dict(json.loads(json.dumps(ref.as_dict()))) == ref
    with SpoolReader() as reader:
        assert reader.fragments(ref) == ('"p é"'.encode(), b"null", b'"r"')
        assert reader.fragments(TextRef(ref.file, ref.offset, ref.length)) is None  # no parts: decode it


def test_a_spool_line_changed_under_its_ref_is_refused_not_spliced(tmp_path):
    path = tmp_path / "gw0.texts"
    ref = TextSpool(path).put({"prompt": "pp", "response": "r", "reference": "f"})
    path.write_bytes(path.read_bytes().replace(b'"pp", "response"', b'"p", "responses"'))
    with SpoolReader() as reader, pytest.raises(TextSpoolError, match="gw0.texts, byte 0: not a sample's texts"):
        reader.fragments(ref)
