"""A sample's long texts on disk while the run goes on: the spool, the reference into it, and the report
written from spooled records exactly as from records that hold their texts."""

from __future__ import annotations

import json
import os

import pytest

from clue_checks.errors import ClueError
from clue_checks.record import SampleRecord, WorkerReport
from clue_checks.report.build import RunFacts, build_report
from clue_checks.report.numbers.aggregate import TaskSpec
from clue_checks.report.write import html
from clue_checks.report.write.folder import prediction_rows, write_folder, write_page
from clue_checks.report.write.html_rows import rows_of
from clue_checks.report.write.pieces import read_predictions
from clue_checks.roles.private_records import PrivateRecords
from clue_checks.text_spool import TextRef, TextSpool, TextSpoolError

ODD = "line\u2028separator, \x85, é, \"quotes\"\n"
SURROGATE = "a lone \ud800 surrogate (the cleaner escapes it before any report file; the spool keeps it)"


def record(i: int, **changes) -> SampleRecord:
    fields = dict(task="meqsum", sample_id=f"s{i}", index=i, outcome="failed" if i % 2 else "passed",
                  metrics={"rougeL": 0.1 * i}, reason="why", response=f"answer {i} {ODD}", reference=f"ref {i}",
                  kinds=("low_overlap",), prompt=f"[user] a long prompt {i} " + "documents " * 500)
    return SampleRecord(**{**fields, **changes})


def test_texts_put_in_a_spool_read_back_as_they_were(tmp_path):
    spool = TextSpool(tmp_path / "gw0.texts")
    refs = [spool.put({"prompt": f"p{i} {ODD}", "response": SURROGATE, "reference": "r"}) for i in range(3)]
    assert [r.offset for r in refs] == sorted({r.offset for r in refs})  # each its own place, in order
    assert refs[1].read() == {"prompt": f"p1 {ODD}", "response": SURROGATE, "reference": "r"}
    spool.close()
    assert (tmp_path / "gw0.texts").stat().st_mode & 0o777 == 0o600  # clinical text: this user's only
    assert TextSpool(tmp_path / "gw0.texts").put({"prompt": "later"}).offset > refs[2].offset  # appended


def test_after_a_write_cut_short_the_next_texts_are_still_found_where_they_lie(tmp_path, monkeypatch):
    """The spool counts its end itself: a partial write moved it, and the next object starts after those bytes."""
    spool = TextSpool(tmp_path / "gw0.texts")
    first = spool.put({"prompt": "first"})
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:5]))  # a full disk: 5 bytes, then no more
    with pytest.raises(TextSpoolError, match="wrote 5 of"):
        spool.put({"prompt": "cut"})
    monkeypatch.setattr(os, "write", real_write)
    later = spool.put({"prompt": "later", "response": ODD})
    assert later.offset == first.offset + first.length + 1 + 5
    assert first.read()["prompt"] == "first" and later.read() == {"prompt": "later", "response": ODD, "reference": None}


def test_a_text_ref_crosses_the_wire_as_plain_values():
    ref = TextRef("/spool/gw1.texts", 120, 37)
    assert ref.as_dict() == {"file": "/spool/gw1.texts", "offset": 120, "length": 37}
    assert TextRef.from_dict(json.loads(json.dumps(ref.as_dict()))) == ref


def test_a_spooled_record_carries_no_text_and_reads_it_back_whole(tmp_path):
    whole = record(3)
    spooled = whole.spooled(TextSpool(tmp_path / "main.texts"))
    assert (spooled.prompt, spooled.response, spooled.reference) == (None, None, None)
    wire = json.dumps(spooled.as_dict())
    assert "documents" not in wire and len(wire) < 600  # what crosses xdist's wire: numbers and a place
    assert SampleRecord.from_dict(json.loads(wire)).filled() == whole
    assert spooled.spooled(TextSpool(tmp_path / "other.texts")) is spooled  # spooled once
    assert whole.filled() is whole and "texts" not in whole.as_dict()  # a record that holds its texts: as before


def test_a_spool_that_cannot_be_written_or_read_is_a_clue_error_naming_the_file(tmp_path):
    missing = tmp_path / "gone" / "gw0.texts"
    with pytest.raises(TextSpoolError, match="gone/gw0.texts: cannot write") as raised:
        TextSpool(missing).put({"prompt": "p"})
    assert isinstance(raised.value, ClueError)
    with pytest.raises(TextSpoolError, match="gone/gw0.texts: cannot read"):
        TextRef(str(missing), 0, 10).read()
    changed = tmp_path / "changed.texts"
    ref = TextSpool(changed).put({"prompt": "p"})
    changed.write_text("x" * 40)
    with pytest.raises(TextSpoolError, match="changed.texts, byte 0: not a sample's texts"):
        ref.read()


def test_one_process_spools_into_a_folder_of_its_own_removed_at_the_end():
    channel = PrivateRecords()
    spool = channel.spool()
    spool.put({"prompt": "p"})
    folder = channel.folder
    assert folder is not None and spool.path.parent == folder and oct(os.stat(folder).st_mode & 0o777) == "0o700"
    channel.close()
    assert not folder.exists()


def test_the_worker_report_carries_no_sample_text():
    data = WorkerReport({"sent": 3}, None).as_dict()
    assert set(data) == {"version", "requests", "request_stats", "baseline_requests", "description"}


def test_the_report_folder_of_spooled_records_is_byte_for_byte_that_of_whole_records(tmp_path):
    """The predictions, the page, the JSON and the Markdown: the texts read back as each file is written."""
    whole = [record(i) for i in range(6)] + [record(6, outcome="error", response=None, prompt=None)]
    spool = TextSpool(tmp_path / "main.texts")
    facts = RunFacts(run={"model_id": "m"}, manifest={}, specs=(TaskSpec("meqsum", "MeQSum", 1, ("rougeL",)),))
    write_folder(tmp_path / "a", build_report(whole, facts))
    write_folder(tmp_path / "b", build_report([r.spooled(spool) for r in whole], facts))
    names = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert "index.html" in {str(n) for n in names} and "predictions/meqsum.jsonl" in {str(n) for n in names}
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    # A report folder read back with its texts left in the file (the merge): the same records, filled.
    apart = read_predictions(tmp_path / "a", texts_apart=True)["meqsum"]
    assert all(r.prompt is None and r.texts is not None for r in apart)
    assert [r.filled() for r in apart] == read_predictions(tmp_path / "a")["meqsum"]


def test_the_page_written_as_its_rows_are_read_is_the_page_of_all_rows_at_once(tmp_path):
    """Two tasks (one of a single prompt), prompts sharing a long start and cut in the middle, kinds, a row
    without a prompt, text the island escapes: the streamed page is the page `html.write_page` draws."""
    records = [record(i, prompt=f"{'system and shots <&> ' * 300}question {i} " + "doc\u2028 " * (900 + i))
               for i in range(5)]
    records += [record(5, prompt=None), record(0, task="mednli", prompt="one prompt only", kinds=())]
    specs = (TaskSpec("meqsum", "MeQSum", 1, ("rougeL",)), TaskSpec("mednli", "MedNLI", 1, ("accuracy",)))
    report = build_report([r.spooled(TextSpool(tmp_path / "main.texts")) for r in records],
                          RunFacts(run={"model_id": "m"}, manifest={}, specs=specs))
    (tmp_path / "whole").mkdir()
    html.write_page(tmp_path / "whole", report.as_dict(), rows_of(prediction_rows(report)))
    streamed = write_page(tmp_path, report)
    assert streamed.read_bytes() == (tmp_path / "whole" / "index.html").read_bytes()
    assert b"characters not shown" in streamed.read_bytes()  # the prompts were cut as the page cuts them
