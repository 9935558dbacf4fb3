"""A run's comparison with its baseline as its report says it (report/compare/baseline.py), the flat manifest
read for comparability, and --clue-select's lists (roles/select.py). Numbers unit-tested without pytest runs."""

from __future__ import annotations

import json

import pytest

from clue_checks.record import SampleRecord
from clue_checks.report.numbers.aggregate import TaskSpec, aggregate
from clue_checks.report.compare.baseline import (NO_BASELINE, compare_with_baseline, markdown_lines,
                                                not_compared, record_from_baseline, terminal_lines, with_baseline)
from clue_checks.report.compare.manifest_check import check_comparable
from clue_checks.report.numbers.thresholds import parse
from clue_checks.report.verdict import Verdict, decide
from clue_checks.roles.select import listed

SPECS = [TaskSpec("mednli", "MedNLI", 1, ("accuracy",), n_total=40),
         TaskSpec("longhealth-t1", "LongHealth task 1", 2, ("accuracy",), n_total=40)]


def records(wrong: set[int], task: str = "mednli", n: int = 40) -> list[SampleRecord]:
    """n samples, right except those in `wrong`; LongHealth's come in questions of five repeats."""
    cluster = (lambda i: f"longhealth:p/q{i // 5}") if task.startswith("longhealth") else (lambda i: None)
    return [SampleRecord(task, f"s{i:02d}", i, "failed" if i in wrong else "passed",
                         metrics={"accuracy": 0.0 if i in wrong else 1.0}, response=f"answer {i}", cluster=cluster(i))
            for i in range(n)]


def compare_gates(text: str):
    return parse("[compare]\n" + text, "t.toml").compare


def compared(new, base, gates_text='"mednli.accuracy" = "no regression"\n'):
    result = aggregate(new, SPECS, ())
    return result, compare_with_baseline(result, base, gates=compare_gates(gates_text),
                                         comparability=check_comparable({}, {}), baseline={"source": "base"},
                                         resamples=2000)


def test_identical_runs_differ_by_zero_everywhere_and_pass_no_regression_only_when_large_enough():
    both = records({1, 5, 9}) + records({0, 1, 2, 3, 4}, "longhealth-t1")
    result, c = compared(both, both)
    for entry in c.section["tasks"].values():
        assert entry["difference"] == 0 and entry["p_value"] == 1 and entry["broke"] == entry["fixed"] == []
    # 40 pairs cannot rule out a 2-point drop even when nothing changed: inconclusive, which is not a pass
    assert c.section["complete"] and [g.status for g in c.gates] == ["inconclusive"]
    assert decide((), result.tasks, compare_gates=c.gates) == \
        Verdict("inconclusive", ("compare gate inconclusive: mednli.accuracy no regression",))
    big = records({1, 5, 9}, n=1000)
    result, c = compared(big, big)
    assert [g.status for g in c.gates] == ["pass"]
    assert decide((), result.tasks, compare_gates=c.gates) == Verdict("pass")


def test_broke_and_fixed_name_the_samples_and_a_planted_drop_fails_the_gate():
    base = records(set(range(30, 40)))
    new = records(set(range(0, 12)) | set(range(30, 38)))  # 12 broke, 2 fixed
    _, c = compared(new, base, '"mednli.accuracy" = "noninferior 0.02"\n')
    entry = c.section["tasks"]["mednli"]
    assert entry["broke"] == [f"s{i:02d}" for i in range(12)] and entry["fixed"] == ["s38", "s39"]
    assert entry["discordant"] == {"broke": 12, "fixed": 2} and entry["difference"] == pytest.approx(-0.25)
    assert entry["p_value"] < 0.05 and entry["ci95"][1] < 0 and "McNemar" in entry["method"]
    assert [g.status for g in c.gates] == ["fail"]
    assert decide((), (), compare_gates=c.gates) == Verdict("fail", ("compare gate fail: mednli.accuracy noninferior 0.02",))


def test_longhealth_is_compared_by_patient():
    base = records(set(), "longhealth-t1")
    new = records(set(range(10)), "longhealth-t1")  # two whole questions of the one patient broke
    _, c = compared(new, base)
    entry = c.section["tasks"]["longhealth-t1"]
    assert entry["n_clusters"] == 1 and entry["unit"] == "patient" and "sign-flip" in entry["method"]
    assert entry["seed"] == 20240411 and entry["resamples"] is None and entry["p_value"] == 1.0


def test_missing_samples_make_the_comparison_incomplete_and_its_gates_incomplete():
    base = records(set())
    _, c = compared(records(set())[:30], base)
    entry = c.section["tasks"]["mednli"]
    assert not entry["complete"] and len(entry["missing_in_new"]) == 10 and not c.section["complete"]
    assert [g.status for g in c.gates] == ["incomplete"]


def test_without_a_baseline_comparison_gates_are_not_run_and_keep_the_verdict_from_passing():
    c = not_compared(compare_gates('"mednli.accuracy" = "noninferior 0.02"\n'))
    assert c.section is None and [(g.status, g.detail) for g in c.gates] == [("not run", NO_BASELINE)]
    assert decide((), (), compare_gates=c.gates) == Verdict("not run", ("compare gate not run: mednli.accuracy "
                                                                      "noninferior 0.02",))
    assert any("compare gate NOT RUN" in line for line in terminal_lines(c, {}))
    assert any(NO_BASELINE in line for line in markdown_lines(c, {}))


def test_prediction_rows_carry_the_baseline_answer_and_round_trip():
    new, base = records({1}), records({2})
    rows = with_baseline({"mednli": new}, base)["mednli"]
    assert rows[2].baseline == {"response": "answer 2", "outcome": "failed", "metrics": {"accuracy": 0.0},
                                "kinds": [], "reason": ""}
    assert SampleRecord.from_dict(json.loads(json.dumps(rows[2].as_dict()))) == rows[2]
    assert "baseline" not in new[0].as_dict()  # a run without a baseline writes rows as before
    back = record_from_baseline(rows[2], rows[2].baseline)
    assert (back.outcome, back.metrics, back.index, back.cluster) == ("failed", {"accuracy": 0.0}, 2, None)


# -- comparability of the real (flat) manifest --------------------------------------------------------------


def flat(**changes):
    manifest = {"clue_checks.version": "0.3.0", "prompts.sha256": "a" * 64, "data.sha256.MedNLI/x.jsonl": "b" * 64,
                "generation.mednli.max_new_tokens": 20, "thresholds.content": '[sample]\n"meqsum.rougeL" = 0.1\n'}
    manifest.update(changes)
    return {"manifest": manifest, "run": {"profile": "paper", "api": "generate", "seeds": {"shots": 1}}}


def test_the_flat_manifest_is_checked_key_by_key():
    assert check_comparable(flat(), flat()).ok
    differ = check_comparable(flat(**{"generation.mednli.max_new_tokens": 30, "prompts.sha256": "c" * 64,
                                      "thresholds.content": '[sample]\n"meqsum.rougeL" = 0.2\n'}), flat())
    assert [d.split(":")[0] for d in differ.differences] == [
        "prompts sha256", "generation parameters mednli max_new_tokens", "per-sample floors meqsum.rougeL"]


def test_a_data_file_or_task_one_run_did_not_use_is_no_difference():
    more = flat(**{"data.sha256.MeQSum/y.xlsx": "d" * 64, "generation.meqsum.max_new_tokens": 100})
    assert check_comparable(more, flat()).ok


def test_aspects_restrict_the_check_to_what_is_known_before_inference():
    other = flat(**{"generation.mednli.max_new_tokens": 30})
    assert not check_comparable(other, flat()).ok
    assert check_comparable(other, flat(), aspects=frozenset({"data sha256", "profile"})).ok


# -- --clue-select -------------------------------------------------------------------------------------------


def test_select_reads_the_comparison_of_the_report_folder(tmp_path):
    (tmp_path / "clue-report.json").write_text(json.dumps({"comparison": {"tasks": {
        "mednli": {"broke": ["a", "b"], "fixed": ["c"]}, "longhealth-t1": {"broke": ["p/q1/r0"], "fixed": []}}}}))
    assert listed(tmp_path, "broke") == {"mednli:a", "mednli:b", "longhealth-t1:p/q1/r0"}
    assert listed(tmp_path, "fixed") == {"mednli:c"}


def test_select_without_a_comparison_is_one_usage_error_naming_the_file(tmp_path):
    with pytest.raises(pytest.UsageError, match="not found; run once with --clue-baseline"):
        listed(tmp_path, "broke")
    (tmp_path / "clue-report.json").write_text(json.dumps({"tasks": {}}))
    with pytest.raises(pytest.UsageError, match="holds no comparison with a baseline"):
        listed(tmp_path, "broke")


# -- the options ---------------------------------------------------------------------------------------------


def resolved(_tmp_path, **cli):
    from option_values import FakeConfig

    from clue_checks.settings import resolve

    return resolve(FakeConfig(cli))


def test_the_baseline_options_resolve_and_are_checked(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "clue-report.json").write_text("{}")
    s = resolved(tmp_path, clue_baseline=str(base), clue_baseline_force=True, clue_select="broke",
                 clue_report_dir=str(tmp_path / "new"))
    assert (s.baseline_dir, s.baseline_force, s.select, s.baseline_endpoints) == (base, True, "broke", ())
    s = resolved(tmp_path, clue_baseline_endpoint=["http://b:1/", "http://b:2"])
    assert s.baseline_endpoints == ("http://b:1", "http://b:2")
    problems = [({"clue_baseline": str(tmp_path / "nowhere")}, "clue-report.json not found"),
                ({"clue_baseline": str(base), "clue_report_dir": str(base)}, "is this run's --clue-report-dir"),
                ({"clue_baseline": str(base), "clue_baseline_endpoint": ["http://b:1"]}, "give one"),
                ({"clue_baseline_endpoint": ["b:1"]}, "must be an http"),
                ({"clue_model_endpoint": ["http://a:1"], "clue_baseline_endpoint": ["http://a:1"]}, "with itself")]
    for cli, message in problems:
        with pytest.raises(pytest.UsageError, match=message):
            resolved(tmp_path, **cli)
