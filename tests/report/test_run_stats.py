"""The report's run statistics (report/numbers/run_stats.py) and the plugin's pre-inference checks and cleaner
(preflight.py, cleaner.py), as plain functions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clue_checks.endpoint.redact import Redactor
from clue_checks.record import SampleRecord
from clue_checks.report.numbers.run_stats import (markdown_lines, merge_stats, percentile, performance, summary_line,
                                            warning_lines)
from clue_checks.cleaner import Cleaner
from clue_checks.preflight import report_dir_problem


@given(st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1, max_size=60),
       st.sampled_from([0, 5, 50, 95, 100]))
def test_percentile_is_numpys_linear_interpolation(values, q):
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-9, abs=1e-9)


def record(source: str, latency: float | None, tokens: int | None = 10, task: str = "mednli") -> SampleRecord:
    return SampleRecord(task, f"s{latency}", 0, "passed", source=source, latency_s=latency, tokens_out=tokens)


def test_latency_and_throughput_count_only_answers_sent_in_this_run():
    records = {"mednli": [record("sent", 1.0), record("sent", 3.0), record("store", 100.0), record("shared", 50.0)]}
    section = performance(records, {"sent": 2, "concurrency": {"final": 4}}, duration_s=4.0)
    latency = section["latency"]["mednli"]
    assert (latency["n"], latency["p50_s"], latency["p95_s"]) == (2, 2.0, 2.9)
    assert latency["excluded"] == {"from_store": 1, "shared": 1}
    assert section["throughput"]["requests_per_s"] == 0.5
    assert section["throughput"]["output_tokens"] == 20 and section["throughput"]["output_tokens_per_s"] == 5.0


def test_a_task_answered_only_from_the_store_has_no_latency_and_says_why():
    section = performance({"meqsum": [record("store", 2.0, task="meqsum")]}, {"sent": 0}, duration_s=1.0)
    latency = section["latency"]["meqsum"]
    assert latency["p50_s"] is None and "store" in latency["not_computed"]
    assert section["throughput"]["output_tokens_per_s"] is None
    assert "not computed" in "\n".join(markdown_lines(section, None))


def test_answers_without_token_counts_are_said_so():
    section = performance({"mednli": [record("sent", 1.0, tokens=None)]}, {"sent": 1}, duration_s=1.0)
    assert section["throughput"]["output_tokens"] is None
    assert "no token counts" in section["throughput"]["output_tokens_not_computed"]


def worker(sent: int, bad_rows: int, final: int, message: str | None = None) -> dict:
    return {"sent": sent, "failed": 0, "from_store": 1, "shared": 0, "tries": sent + 1, "retries": 1,
            "store": {"path": "/c/responses.sqlite3", "bad_rows": bad_rows, "errors": bad_rows + (1 if message else 0),
                      "messages": [message] if message else [], "notes": []},
            "concurrency": {"source": "server", "start": final, "ceiling": final, "min": final, "max": final,
                            "final": final, "peak_in_flight": final, "decreases": 1},
            "replicas": [], "replica_events": [f"w{sent}: out"], "stopped": None}


def test_worker_stats_are_summed():
    merged = merge_stats([worker(3, 1, 8), None, worker(5, 0, 8, "disk full")])
    assert merged["sent"] == 8 and merged["tries"] == 10 and merged["retries"] == 2
    assert merged["store"]["bad_rows"] == 1 and merged["store"]["errors"] == 2
    assert merged["store"]["messages"] == ["disk full"]
    assert merged["concurrency"]["final"] == 16 and merged["concurrency"]["processes"] == 2
    assert merged["concurrency"]["decreases"] == 2
    assert merged["replica_events"] == ["w3: out", "w5: out"]
    assert merge_stats([None]) is None and merge_stats([worker(1, 0, 2)])["sent"] == 1
    # The summed peak is an upper bound (the workers' peaks need not coincide) and is called one.
    line = summary_line(performance({}, merged, duration_s=2.0))
    assert "concurrency 16 (start 16, peak in flight at most 16 (the sum of 2 workers' peaks), 2 decreases)" in line
    assert "peak in flight 8, 1 decreases" in summary_line(performance({}, worker(3, 0, 8), duration_s=2.0))


def test_store_problems_and_a_stopped_run_are_warnings_never_silent():
    stats = worker(3, 2, 8, "storing the answer failed: disk full")
    section = performance({}, {**stats, "stopped": "the server kept failing"}, duration_s=1.0)
    lines = warning_lines(section, stats["store"])
    assert any("2 stored answers could not be read back" in line for line in lines)
    assert any("1 store operations failed" in line and "disk full" in line for line in lines)
    assert any(line.startswith("stopped: the server kept failing") for line in lines)
    assert any(line.startswith("replica: ") for line in lines)
    assert warning_lines(performance({}, worker(1, 0, 1), 1.0), worker(1, 0, 1)["store"]) == ["replica: w1: out"]


def test_the_cleaner_escapes_what_utf8_cannot_hold_and_masks_secrets_everywhere():
    clean = Cleaner(Redactor.for_endpoint(api_key="sk-secret-123"))
    assert clean("a \ud800 b") == "a \\ud800 b"
    scrubbed = clean.scrub({"x": ["Bearer sk-secret-123", {"y": "sk-secret-123\udfff"}], "n": 3, "z": None})
    assert scrubbed == {"x": ["Bearer [REDACTED]", {"y": "[REDACTED]\\udfff"}], "n": 3, "z": None}
    "".join(clean.lines(["\ud800"])).encode("utf-8")  # writable


def test_report_dir_problems_are_found_without_creating_anything(tmp_path):
    assert report_dir_problem(tmp_path / "new" / "reports") is None
    assert not (tmp_path / "new").exists()
    (tmp_path / "afile").write_text("")
    assert "is a file, not a folder" in report_dir_problem(tmp_path / "afile")
    assert "is a file where a folder should be" in report_dir_problem(tmp_path / "afile" / "r")
