"""The offline HTML report: one self-contained file, untrusted text escaped, rows read defensively."""

from __future__ import annotations

import json
import os
import re
from html import escape
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from fakes import copy_suite
from report_dirs import HOSTILE, write_report_dir

from clue_checks.cli import main as clue
from clue_checks.report.write import html
from clue_checks.report.write.html import ReportDirError, render_page, write_html
from clue_checks.report.write.html_rows import common_prefix, normalise_row, shared_prompt_starts
from clue_checks.report.write.html_view import kinds_counts, page_data, script_json
from clue_checks.report.write.redact import REDACTED_FIELDS, redact_rows, redact_text

ROOT = Path(__file__).resolve().parents[2]

pytest_plugins = ["pytester"]
DATA = re.compile(r'<script type="application/json" id="clue-data">(.*?)</script>', re.S)


def embedded(page: str) -> dict:
    match = DATA.search(page)
    assert match, "no data element"
    return json.loads(match.group(1))


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    return write_report_dir(tmp_path / "clue-report", {"mednli": 9, "meqsum": 6, "longhealth-t3": 6, "medisumcode": 3},
                            hostile=3, comparison=True)


def test_one_file_with_nothing_from_the_network(report_dir):
    path = write_html(report_dir)
    assert path == report_dir / "index.html"
    page = path.read_text(encoding="utf-8")
    assert not re.search(r"<(link|iframe|object|embed)\b", page, re.I)
    assert not re.search(r"<script[^>]*\bsrc=", page, re.I) and not re.search(r"\burl\(", page)
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:|//)", page, re.I)
    assert "default-src 'none'" in page  # and the browser is told to refuse any fetch


def test_untrusted_text_never_appears_as_markup(report_dir):
    page = write_html(report_dir).read_text(encoding="utf-8")
    assert "window.__pwned" in page  # it is there, as data…
    assert "<script>window.__pwned" not in page and "<img src=x" not in page  # …never as markup
    assert page.count("</script>") == page.count("<script")  # no text closes the data element early
    assert "\u2028" not in page and "\u2029" not in page
    rows = embedded(page)["rows"]
    assert rows[3]["response"] == HOSTILE  # and it round-trips exactly


@given(st.text())
def test_script_json_round_trips_and_cannot_close_its_element(text):
    encoded = script_json({"t": text, "k": [text]})
    assert not re.search(r"[<>&\u2028\u2029]", encoded)
    assert json.loads(encoded) == {"t": text, "k": [text]}


def test_charts_kinds_and_forest_plot(report_dir):
    page = write_html(report_dir).read_text(encoding="utf-8")
    assert 'aria-label="task scores with 95% intervals"' in page
    assert "Level 1" in page and "not computed: needs medisumqa.rougeL" in page
    assert page.count('<figure class="kinds"') == 4 and 'aria-label="failure kinds of MedNLI"' in page
    assert 'aria-label="difference to the baseline with 95% intervals"' in page and "p=0.01" in page
    data = embedded(page)
    assert data["comparison"]["mednli"] == {"broke": ["s00000", "s00003"], "fixed": ["s00001"]}
    assert data["rows"][0]["baseline"]["response"] == "baseline answer 0"


def test_no_comparison_no_forest_plot(tmp_path):
    page = write_html(write_report_dir(tmp_path, {"mednli": 3})).read_text(encoding="utf-8")
    assert "difference to the baseline" not in page and 'id="comparison"' not in page


def test_kind_counts_come_from_the_report_else_from_the_rows(tmp_path):
    stated = write_report_dir(tmp_path / "a", {"mednli": 9})
    report = html.load_report(stated)
    report["tasks"]["mednli"]["kinds"] = {"hedged": 7}
    assert kinds_counts(report, html.load_rows(stated)) == {"mednli": {"hedged": 7}}
    counted = write_report_dir(tmp_path / "b", {"mednli": 9}, kinds_in_report=False)
    counts = kinds_counts(html.load_report(counted), html.load_rows(counted))["mednli"]
    assert (counts["format"], counts["hedged"], counts["wrong_answer"], counts["empty"]) == (1, 1, 1, 0)


def test_rows_with_clues_keys_only(tmp_path):
    """A report written before triage: CLUE's keys, metrics at the top level, no kinds."""
    write_report_dir(tmp_path, {"longhealth-t3": 1}, kinds_in_report=False)
    old = {"id": "patient_01/q01/r0", "outcome": "failed", "Model Answer": "The correct answer is A:",
           "Ground Truth Answer": "F", "accuracy": 0.0, "accuracy_lenient": 0.0, "parsed": 1.0, "reason": "parsed 'A'"}
    (tmp_path / "predictions" / "longhealth-t3.jsonl").write_text(json.dumps(old) + "\n", encoding="utf-8")
    page = write_html(tmp_path).read_text(encoding="utf-8")
    (r,) = embedded(page)["rows"]
    assert (r["task"], r["id"], r["response"], r["reference"]) == ("longhealth-t3", "patient_01/q01/r0",
                                                                   "The correct answer is A:", "F")
    assert r["metrics"] == {"accuracy": 0.0, "accuracy_lenient": 0.0, "parsed": 1.0} and r["parsed"] is None
    assert r["kinds"] is None and r["finish_reason"] is None and r["tokens_in"] is None
    assert "Kinds not recorded" in page


def test_new_rows_metrics_dict_wins_and_the_parsed_answer_is_text():
    r = normalise_row({"sample_id": "x", "task": "longhealth-t1", "parsed": "B", "accuracy": 1.0,
                       "metrics": {"accuracy": 1.0, "parsed": 1.0, "bad": float("nan")}, "tokens_in": 5,
                       "messages": [{"role": "user", "content": "hi"}]}, "file")
    assert r["metrics"] == {"accuracy": 1.0, "parsed": 1.0, "bad": None} and r["parsed"] == "B"
    assert r["prompt"] == "[user] hi" and r["tokens_in"] == 5 and r["task"] == "longhealth-t1"


def test_prompts_keep_their_shared_start_once_and_their_own_start_and_end():
    shots = "[system] You are a clinician.\n[user] shot 1\n[assistant] answer 1\n[user] "
    rows = [normalise_row({"id": str(i), "prompt": shots + f"question {i}?"}, "t") for i in range(3)]
    rows.append(normalise_row({"id": "long", "prompt": shots + "a" * 10_000 + "THE QUESTION"}, "t"))
    starts = shared_prompt_starts(rows)
    assert starts == {"t": shots} and rows[1]["prompt"] == "question 1?"  # shown in full: start + own part
    assert rows[3]["prompt"].startswith("aaa") and rows[3]["prompt"].endswith("THE QUESTION")
    assert "characters not shown" in rows[3]["prompt"] and len(rows[3]["prompt"]) < 2_500
    assert rows[3]["prompt_chars"] == len(shots) + 10_012


def test_runaway_replies_are_cut_and_say_so():
    r = normalise_row({"id": "x", "Model Answer": "b" * 60_000}, "t")
    assert r["response"].startswith("b" * 1000) and "more characters not shown" in r["response"]


def test_the_manifest_is_preferred_over_the_run(report_dir):
    report = json.loads((report_dir / "clue-report.json").read_text())
    report["manifest"] = {"model_id": "from/the-manifest", "data_sha256": {"mednli": "abc"}}
    (report_dir / "clue-report.json").write_text(json.dumps(report))
    page = write_html(report_dir).read_text(encoding="utf-8")
    assert "from/the-manifest" in page and "data_sha256" in page and "synthetic/model" not in page


def test_hostile_manifest_values_are_escaped(report_dir):
    report = json.loads((report_dir / "clue-report.json").read_text())
    report["run"]["model_id"] = "<b onmouseover=alert(1)>x</b>"
    (report_dir / "clue-report.json").write_text(json.dumps(report))
    page = write_html(report_dir).read_text(encoding="utf-8")
    assert "<b onmouseover" not in page and "&lt;b onmouseover=alert(1)&gt;" in page


# Markup, script and template code where model output, prompts and task names go.
INJECTION = ("</script><script>alert(1)</script><img src=x onerror=alert(2)>"
             "{{ 7 * 7 }}{% for x in range(3) %}looped{% endfor %}{# gone #}{%- raw %}")


def test_model_output_and_task_names_are_neither_markup_nor_template_code(tmp_path):
    folder = write_report_dir(tmp_path, {"mednli": 3, "meqsum": 3}, comparison=True)
    path = folder / "predictions" / "meqsum.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for r in rows:
        r.update({"task": INJECTION, "prompt": INJECTION, "Model Answer": INJECTION, "reason": INJECTION,
                  "Ground Truth Answer": INJECTION})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = json.loads((folder / "clue-report.json").read_text(encoding="utf-8"))
    report["tasks"][INJECTION] = {**report["tasks"].pop("meqsum"), "title": INJECTION}
    report["run"].update({"model_id": INJECTION, "profile": INJECTION})
    report["manifest"] = {INJECTION: INJECTION, "list": [INJECTION]}
    report["gates"][0]["detail"] = INJECTION
    (folder / "clue-report.json").write_text(json.dumps(report), encoding="utf-8")
    page = write_html(folder).read_text(encoding="utf-8")
    assert page.count("<script") == 2 and page.count("</script>") == 2  # the data element and the page's script
    assert "<img" not in page and "alert(1)</script>" not in page
    assert "loopedlooped" not in page and "{# gone #}" in page  # never run as template code: only ever text
    assert page.count(f'<span class="model">{escape(INJECTION)}</span>') == 1  # shown as text, as written
    assert f'data-task="{escape(INJECTION)}"' in page and f"<dt>{escape(INJECTION)}</dt>" in page
    data = embedded(page)
    assert {r["task"] for r in data["rows"]} == {"mednli", INJECTION}
    assert [r["response"] for r in data["rows"] if r["task"] == INJECTION] == [INJECTION] * 3


@given(st.text(max_size=80), st.text(max_size=80))
def test_any_text_in_the_header_and_gates_is_printed_escaped(model, detail):
    report = {"run": {"model_id": model or "m"}, "gates": [{"gate": "g", "status": "fail", "detail": detail}]}
    page = render_page(report, [])
    assert f'<span class="model">{escape(model or "m")}</span>' in page
    assert f"<code>g</code> {escape(detail)}</li>" in page
    assert page.count("<script") == 2


def test_a_folder_without_a_report_is_named(tmp_path):
    with pytest.raises(ReportDirError, match=re.escape(str(tmp_path)) + ".*no clue-report.json"):
        write_html(tmp_path)


def test_a_broken_prediction_line_is_named_with_its_file_and_line(report_dir):
    path = report_dir / "predictions" / "meqsum.jsonl"
    path.write_text(path.read_text() + '{"id": "cut sh', encoding="utf-8")
    with pytest.raises(ReportDirError, match=r"meqsum\.jsonl, line 7: not a JSON object"):
        write_html(report_dir)


def test_cli_rebuilds_the_page(report_dir, capsys):
    assert clue(["report", "html", str(report_dir)]) == 0
    assert capsys.readouterr().out.strip() == str(report_dir / "index.html")
    assert (report_dir / "index.html").is_file()


def test_cli_on_a_folder_without_a_report_exits_2(tmp_path, capsys):
    assert clue(["report", "html", str(tmp_path)]) == 2
    assert "clue report html: error:" in capsys.readouterr().err


def test_the_page_of_a_real_run(tmp_path, pytester, capsys):
    """The user's journey: a run writes its report directory, `clue report html` builds the page from it."""
    copy_suite(pytester.path)
    run = pytester.runpytest_inprocess("tests_clinical", "--clue-tasks=mednli", "--clue-limit=5", "--clue-no-cache",
                                       f"--clue-report-dir={tmp_path}", "-q", "-p", "no:cacheprovider", "--tb=no")
    assert (tmp_path / "clue-report.json").is_file(), run.stdout.str() + run.stderr.str()
    capsys.readouterr()
    assert clue(["report", "html", str(tmp_path)]) == 0, capsys.readouterr().err
    data = embedded((tmp_path / "index.html").read_text(encoding="utf-8"))
    assert len(data["rows"]) == 5 and {r["task"] for r in data["rows"]} == {"mednli"}
    assert all(r["metrics"].keys() == {"accuracy"} for r in data["rows"])


# -- --clue-redact ----------------------------------------------------------------------------------

clinical = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=30, max_size=200)


@given(clinical, clinical, clinical)
def test_redaction_leaves_no_clinical_text_and_keeps_the_rest(prompt, response, reference):
    row = {"id": "s1", "task": "meqsum", "outcome": "failed", "prompt": prompt, "Model Answer": response,
           "Ground Truth Answer": reference, "response": response, "reference": reference, "parsed": response,
           "messages": [{"role": "user", "content": prompt}], "rougeL": 0.05, "kinds": ["low_overlap"],
           "reason": "rougeL F 0.050 < floor 0.1", "baseline": {"response": reference, "metrics": {"rougeL": 0.2}}}
    original = json.loads(json.dumps(row))
    (out,) = redact_rows([row])
    assert row == original  # the input is not changed
    dumped = json.dumps(out, ensure_ascii=False)
    assert prompt not in dumped and response not in dumped and reference not in dumped
    assert out["Model Answer"] == redact_text(response) == out["response"]  # equal texts, equal hashes
    assert out["Model Answer"] == f"sha256:{out['Model Answer'][7:23]} ({len(response)} chars)"
    assert out["messages"] == [{"role": "user", "content": redact_text(prompt)}]
    assert out["baseline"] == {"response": redact_text(reference), "metrics": {"rougeL": 0.2}}
    kept = {k: v for k, v in row.items() if k not in REDACTED_FIELDS and k != "baseline"}
    assert {k: out[k] for k in kept} == kept


def test_redaction_keeps_missing_text_missing():
    assert redact_rows([{"id": "x", "prompt": None, "outcome": "error"}]) == [{"id": "x", "prompt": None, "outcome": "error"}]


def test_a_redacted_report_still_renders(tmp_path):
    report_dir = write_report_dir(tmp_path, {"mednli": 3}, hostile=1)
    path = report_dir / "predictions" / "mednli.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]  # not at U+2028
    path.write_text("".join(json.dumps(r) + "\n" for r in redact_rows(rows)), encoding="utf-8")
    page = write_html(report_dir).read_text(encoding="utf-8")
    assert "window.__pwned" not in page and "chest pain" not in page and "history of present illness" not in page
    assert embedded(page)["rows"][1]["response"].startswith("sha256:")


_PIECE = st.sampled_from(["", "a", "ab", "Q: ", "x" * 400, "y" * 1_500, "z" * 1_990, "w" * 2_600])


@given(st.lists(st.tuples(st.sampled_from(["t1", "t2"]), _PIECE, _PIECE, _PIECE), min_size=1, max_size=7),
       _PIECE)
def test_prompts_read_back_trimmed_give_the_same_page_data(tmp_path_factory, prompts, shared):
    """load_rows keeps only what the page can show of each prompt; the page data must not change."""
    folder = tmp_path_factory.mktemp("rows")
    (folder / "predictions").mkdir()
    raw = [{"sample_id": str(i), "task": task, "prompt": shared + a + b + c} for i, (task, a, b, c) in enumerate(prompts)]
    for task in ("t1", "t2"):
        (folder / "predictions" / f"{task}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in raw if r["task"] == task), encoding="utf-8")
    whole = [normalise_row(r, r["task"]) for task in ("t1", "t2") for r in raw if r["task"] == task]
    assert page_data({}, html.load_rows(folder)) == page_data({}, whole)


_SHORT_TEXT = st.text(alphabet="ab\u00e9\U0001f600", max_size=40)


@given(_SHORT_TEXT, _SHORT_TEXT, _SHORT_TEXT)
def test_common_prefix_is_the_stdlibs(shared, a, b):
    assert common_prefix(shared + a, shared + b) == os.path.commonprefix([shared + a, shared + b])


def test_long_prompts_are_not_kept_whole(tmp_path):
    shots = "[system] You are a clinician.\n[user] " + "shot " * 400
    rows = [{"sample_id": str(i), "prompt": shots + f"patient {i} " + "document text " * 3_000} for i in range(4)]
    (tmp_path / "predictions").mkdir()
    (tmp_path / "predictions" / "longhealth-t1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    kept = html.load_rows(tmp_path)
    assert all(len(r["prompt"]) < len(shots) + 2_200 for r in kept[1:])  # the first row sets the start
    assert [r["prompt_chars"] for r in kept] == [len(r["prompt"]) for r in rows]
