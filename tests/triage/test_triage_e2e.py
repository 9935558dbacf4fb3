"""Failure kinds end to end: the real suite (tests_clinical/) run as a user runs it, against the embedded baseline.

The judged journey: a run writes index.html and prediction rows that carry finish reason and kinds; against
the degraded baseline variant the planted failures are counted where they were planted; `--clue-kind=truncated`
reruns exactly those samples from the store; kinds never change a score; `--clue-redact` leaves no clinical
text in any artefact.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from clue_checks.metrics.icd10 import extract_codes, invalid_codes, is_code_increment
from clue_checks.server.variants import count_up
from planted import planted_samples
from suite_runs import run, suite  # noqa: F401  (suite: a fixture)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "clue_checks" / "fixtures"
DEGRADED = "finetune-degraded"
TASKS = "mednli,meqsum,medisumcode,longhealth-t3"

pytest_plugins = ["pytester"]


def rows_of(folder: Path) -> dict[str, dict]:
    """Test id -> prediction row."""
    rows = {}
    for path in sorted((folder / "predictions").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rows[f"{row['task']}:{row['sample_id']}"] = row
    return rows


def expected_kind(planted: str, test_id: str, default_row: dict | None) -> str | None:
    """The triage kind a planted failure must produce on this sample (None: the plant cannot show as one).

    repetition_loop: always `truncated` (the loop runs to the token limit); ignored_format: `format`;
    letter_not_f on LongHealth task 3 (ground truth F): `unanswerable_missed`; icd_digits_up: `code_increment`
    where the default answer held a gold code whose counted-up form is a larger code that is not gold too."""
    if planted == "repetition_loop":
        return "truncated"
    if planted == "ignored_format":
        return "format"
    if planted == "letter_not_f":
        return "unanswerable_missed" if test_id.startswith("longhealth-t3:") else None
    if planted == "icd_digits_up":
        assert default_row is not None, test_id
        gold = {c.strip().replace(".", "") for c in default_row["reference"].split(",")}
        hits = [c for c in extract_codes(default_row["response"]) if c in gold]
        counted = [count_up(c) for c in hits]
        if any(is_code_increment(up, c) and up not in gold for up, c in zip(counted, hits)):
            return "code_increment"
        return None
    raise AssertionError(f"unknown planted kind {planted}")


# Samples per kind of each task under the degraded baseline, as they were when the detectors still read task
# names: the detectors now read what a task is (its answer reader), and must find exactly these.
CLUE_KINDS_DEGRADED = {
    "mednli": {"truncated": 4, "format": 12, "wrong_answer": 20},
    "meqsum": {"truncated": 12, "repetition_loop": 12, "low_overlap": 14},
    "medisumcode": {"truncated": 4, "repetition_loop": 4, "invalid_code": 3, "code_increment": 3, "wrong_answer": 12},
    "longhealth-t3": {"format": 15, "unanswerable_missed": 62},
}


def test_degraded_run_counts_the_planted_kinds_and_reruns_truncated_from_the_store(suite):
    # The default variant's answers are read for MeDiSumCode's counted-up codes only (expected_kind)
    default = run(suite, "--clue-tasks=medisumcode", "--clue-report-dir=default", "--clue-cache=c-default", "--tb=no",
                  "-q")
    assert default.ret in (0, 1)
    result = run(suite, f"--clue-tasks={TASKS}", f"--clue-baseline-variant={DEGRADED}", "--clue-cache=c", "--tb=line",
                 "--junitxml=junit.xml")
    folder = suite.path / "clue-report"
    assert (folder / "index.html").is_file()
    result.stdout.fnmatch_lines(["*CLUE report*", "kinds MeQSum (n=*): *truncated *", "*report: *index.html*"])
    # The failure message's first line names the kinds: `--tb=line` prints exactly that line.
    assert re.search(r"meqsum:\S+ failed \[[a-z_, ]*truncated[a-z_, ]*\]: ", result.stdout.str())

    rows = rows_of(folder)
    data = json.loads((folder / "clue-report.json").read_text())
    assert len(rows) == sum(t["n_samples"] for t in data["tasks"].values()) > 0
    for row in rows.values():  # every row carries finish reason and kinds, and the triage fields
        assert isinstance(row["kinds"], list) and row["finish_reason"] and row["node_id"]
        assert {"Model Answer", "Ground Truth Answer", "prompt", "parsed_answer", "tokens_out", "latency_s",
                "metrics"} <= set(row) and "parsed" not in row

    planted = planted_samples(DEGRADED, FIXTURES, tasks=TASKS.split(","))
    defaults = rows_of(suite.path / "default")
    checked = {}
    for test_id, kind in planted.items():
        want = expected_kind(kind, test_id, defaults.get(test_id))
        if want is not None:
            assert want in rows[test_id]["kinds"], (test_id, kind, rows[test_id]["kinds"])
            checked[kind] = checked.get(kind, 0) + 1
    assert set(checked) == {"repetition_loop", "ignored_format", "letter_not_f", "icd_digits_up"}, checked
    looped = [t for t, k in planted.items() if k == "repetition_loop" and not t.startswith("mednli:")]
    assert looped and all("repetition_loop" in rows[t]["kinds"] for t in looped)  # long enough to repeat

    for task, summary in data["tasks"].items():  # the JSON counts are the rows' kinds, per task
        from clue_checks.triage import kind_counts

        assert summary["kinds"] == kind_counts(task, [r["kinds"] for r in rows.values() if r["task"] == task])
    # Kinds are read from what each task is, not its name: CLUE's counts on the bundled fixtures stay these.
    found = {task: {k: n for k, n in summary["kinds"].items() if n} for task, summary in data["tasks"].items()}
    expected = dict(CLUE_KINDS_DEGRADED)
    if not invalid_codes(["Q99999"]):  # without simple-icd-10-cm, invalid codes are not looked for
        expected["medisumcode"] = {k: n for k, n in expected["medisumcode"].items() if k != "invalid_code"}
    assert found == expected
    md = (folder / "clue-report.md").read_text()
    assert "## Failure kinds" in md and "| MeQSum |" in md

    outs = {case.get("name"): case.findtext("system-out") or ""
            for case in ET.parse(suite.path / "junit.xml").getroot().iter("testcase")}
    some = next(t for t in rows if rows[t]["kinds"])
    assert f"clue.kinds: {', '.join(rows[some]['kinds'])}" in outs[f"test_sample[{some}]"]

    truncated = {t for t, r in rows.items() if "truncated" in r["kinds"]}
    assert truncated
    again = run(suite, f"--clue-tasks={TASKS}", f"--clue-baseline-variant={DEGRADED}", "--clue-cache=c", "--tb=no", "-q",
                "--clue-kind=truncated")
    rerun = rows_of(folder / "selection")  # written beside the report of record, which stays as it was
    assert set(rerun) == truncated and rows_of(folder) == rows
    assert f"{len(truncated)} failed" in again.stdout.str() or f"{len(truncated)} passed" in again.stdout.str() \
        or again.parseoutcomes().get("failed", 0) + again.parseoutcomes().get("passed", 0) == len(truncated)
    requests = json.loads((folder / "selection" / "clue-report.json").read_text())["requests"]
    assert requests == {"sent": 0, "failed": 0, "from_store": len(truncated), "shared": 0}


def test_an_unknown_kind_is_a_usage_error_listing_the_kinds(suite):
    result = run(suite, "--clue-kind=truncated,loopy")
    assert result.ret == 4
    assert "loopy" in result.stderr.str() and "repetition_loop" in result.stderr.str()


def disable_triage(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run as it was before kinds existed: every place that asks for a sample's kinds gets none."""
    import clue_checks.roles.session
    import clue_checks.sample_verdict

    for module in (clue_checks.sample_verdict, clue_checks.roles.session):
        monkeypatch.setattr(module, "kinds_for", lambda evidence: ())

# MedNLI and MeDiSumCode on the bundled fixtures against the default baseline, as the code before triage scored
# them (recorded from main before kinds were wired in): kinds must not move any of these.
KNOWN = {
    "mednli": (45, 19, {"accuracy": 19 / 45}),
    "medisumcode": (23, 7, {"icd_em_p": 0.1282608695652174, "icd_em_r": 0.07681159420289854,
                            "icd_em_f1": 0.09085889955455173, "icd_ap_p": 0.27391304347826084,
                            "icd_ap_r": 0.23188405797101447, "icd_ap_f1": 0.23658322353974529, "valid_codes": 1.0}),
}


def without_kinds_and_times(data: dict) -> dict:
    from clue_checks.report.manifest import run_specific

    data = json.loads(json.dumps(data))
    data["run"].pop("finished")
    for key in [k for k in data["manifest"] if run_specific(k)]:
        data["manifest"].pop(key, None)
    data.pop("requests")  # the first run sent them, the second read them from the store
    data.pop("performance", None)  # durations and throughput: timing, not scores
    for task in data["tasks"].values():
        task.pop("kinds", None)
        task.pop("requests")
    return data


def test_kinds_never_change_a_score(suite, monkeypatch):
    run(suite, "--clue-tasks=mednli,medisumcode", "--clue-report-dir=on", "--clue-cache=c", "-q", "--tb=no")
    on = json.loads((suite.path / "on" / "clue-report.json").read_text())
    for task, (n, passed, metrics) in KNOWN.items():
        summary = on["tasks"][task]
        assert (summary["n_samples"], summary["n_passed"]) == (n, passed)
        assert {m: v["value"] for m, v in summary["metrics"].items()} == pytest.approx(metrics, rel=1e-12, abs=0)
        assert any(summary["kinds"].values())  # the triage really ran

    disable_triage(monkeypatch)
    run(suite, "--clue-tasks=mednli,medisumcode", "--clue-report-dir=off", "--clue-cache=c", "-q", "--tb=no")
    off = json.loads((suite.path / "off" / "clue-report.json").read_text())
    assert not any(n for t in off["tasks"].values() for n in t["kinds"].values())
    assert without_kinds_and_times(on) == without_kinds_and_times(off)
    on_rows, off_rows = rows_of(suite.path / "on"), rows_of(suite.path / "off")
    strip = ("kinds", "latency_s", "source")
    assert {t: {k: v for k, v in r.items() if k not in strip} for t, r in on_rows.items()} == \
        {t: {k: v for k, v in r.items() if k not in strip} for t, r in off_rows.items()}


def test_redacted_artefacts_hold_no_clinical_text(suite):
    args = ("--clue-tasks=meqsum,medisumcode", "--clue-cache=c", "--tb=long")
    run(suite, *args, "--clue-report-dir=plain")
    texts = {text for row in rows_of(suite.path / "plain").values()
             for text in (row["response"], row["reference"], row["prompt"][-300:]) if text and len(text) >= 12}
    codes = {c for row in rows_of(suite.path / "plain").values() for c in re.findall(r"[A-Z]\d\d\.\d+", row["reason"])}
    assert texts and codes  # MeDiSumCode's reasons quote codes (near misses) in the plain run

    result = run(suite, *args, "--clue-report-dir=red", "--clue-redact", "--junitxml=junit.xml", "-rP")
    folder = suite.path / "red"
    assert json.loads((folder / "clue-report.json").read_text())["requests"]["sent"] == 0  # from the store
    artefacts = {p.name: p.read_text(encoding="utf-8") for p in [*folder.rglob("*.*"), suite.path / "junit.xml"]}
    artefacts["terminal"] = result.stdout.str()
    assert {"index.html", "clue-report.json", "clue-report.md", "junit.xml", "meqsum.jsonl"} <= set(artefacts)
    for name, content in artefacts.items():
        leaked = [t[:40] for t in texts if t in content] + [c for c in codes if c in content]
        assert not leaked, f"{name} shows clinical text: {leaked[:3]}"
    rows = rows_of(folder)
    assert all(r["response"].startswith("sha256:") and r["kinds"] is not None for r in rows.values())
    assert "sha256:" in artefacts["junit.xml"] and "sha256:" in artefacts["terminal"]
