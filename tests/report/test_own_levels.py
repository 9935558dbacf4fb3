"""A level of the user's own: the tasks naming it averaged beside CLUE's levels, never into them."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from clue_checks.report.build import RunFacts, build_report
from clue_checks.report.document import Report
from clue_checks.record import SampleRecord
from clue_checks.report.numbers.aggregate import TaskSpec
from clue_checks.report.numbers.levels import level_scores, own_levels
from clue_checks.report.write.markdown import markdown
from clue_checks.report.write.terminal import summary_lines
from clue_checks.tasks.file_task import load_task_file
from clue_checks.tasks.taskfile import TaskFileError

jsonschema = pytest.importorskip("jsonschema", reason="pip install clue-checks[test] (jsonschema)")
SCHEMA = json.loads(resources.files("clue_checks.report").joinpath("report_schema.json").read_text(encoding="utf-8"))

SPECS = (TaskSpec("mednli", "MedNLI", 1, ("accuracy",)),
         TaskSpec("intake", "Intake", "in-house", ("accuracy",)),
         TaskSpec("letters", "Letters", "in-house", ("rougeL", "rouge1", "rouge2")),
         TaskSpec("aside", "Aside", None, ("accuracy",)))


def records() -> list[SampleRecord]:
    out = []
    for task, metric, values in (("mednli", "accuracy", [1, 0, 1, 1]), ("intake", "accuracy", [1, 1, 0, 0, 1, 0]),
                                 ("letters", "rougeL", [0.2, 0.4, 0.3]), ("aside", "accuracy", [0, 0, 0])):
        for i, v in enumerate(values):
            out.append(SampleRecord(task, f"s{i}", i, "passed" if v else "failed", metrics={metric: float(v)},
                                    response="r", reference="g", cluster=f"{task}:c{i // 2}", source="sent"))
    return out


def test_own_levels_collect_the_tasks_naming_them_with_their_headline_metric():
    assert own_levels(SPECS) == {"in-house": (("intake", "accuracy"), ("letters", "rougeL"))}


def test_an_own_level_is_the_mean_of_its_tasks_with_a_bootstrap_interval_and_clues_levels_do_not_move():
    values = {("intake", "accuracy"): [1.0, 1.0, 0.0, 0.0, 1.0, 0.0], ("letters", "rougeL"): [0.2, 0.4, 0.3],
              ("mednli", "accuracy"): [1.0, 0.0]}
    alone = level_scores(values)
    both = level_scores(values, own=own_levels(SPECS))
    assert both[:2] == alone  # CLUE's levels: the same numbers, intervals and reasons
    own = both[2]
    assert own.level == "in-house" and own.value == pytest.approx((0.5 + 0.3) / 2)
    assert own.components == pytest.approx({"intake": 0.5, "letters": 0.3})
    assert own.ci_low < own.value < own.ci_high and "stratified bootstrap over 9 samples" in own.method
    missing = level_scores({("intake", "accuracy"): [1.0]}, own=own_levels(SPECS))[2]
    assert missing.value is None and missing.not_computed == "needs letters.rougeL (not run or not computed)"


def test_the_report_shows_an_own_level_in_json_markdown_and_terminal_and_reads_it_back():
    report = build_report(records(), RunFacts(run={"model_id": "m"}, manifest={}, specs=SPECS))
    data = json.loads(json.dumps(report.as_dict(), allow_nan=False))
    jsonschema.validate(data, SCHEMA)
    assert list(data["levels"]) == ["level1", "level2", "in-house"]
    assert data["levels"]["in-house"]["definition"] == {"intake": ["intake.accuracy"], "letters": ["letters.rougeL"]}
    assert data["tasks"]["intake"]["level"] == "in-house" and data["tasks"]["aside"]["level"] is None
    assert "aside" not in json.dumps(data["levels"])  # a task without a level stays beside them
    assert Report.from_dict(data).as_dict()["levels"] == data["levels"]
    line = next(x for x, _ in summary_lines(report) if x.startswith("Level in-house"))
    assert line.startswith("Level in-house (own, not CLUE's): 0.400 [") and "intake 0.500, letters 0.300" in line
    assert "- Level in-house (own, not CLUE's): 0.400" in markdown(report)


@pytest.mark.parametrize("level", ["1", "2", "Level 1", "level2", "level-1", "CLUE", "clue-level-2"])
def test_a_task_file_naming_one_of_clues_levels_is_refused(tmp_path, level):
    path = tmp_path / "t.toml"
    path.write_text(f'[task]\nname = "mine"\nlevel = "{level}"\n[data]\nfile = "d.jsonl"\nid = "id"\n'
                    'inputs = ["x"]\nreference = "y"\n[prompt]\nuser = "{{ x }}"\n[generation]\nmax_new_tokens = 3\n'
                    '[answer]\nparser = "text"\n[metric]\nname = "exact_match"\nkind = "binary"\n', encoding="utf-8")
    with pytest.raises(TaskFileError, match=rf"line 3: level '{level}' names one of CLUE's levels.*in-house"):
        load_task_file(path)
    path.write_text(path.read_text().replace(f'level = "{level}"', 'level = "In House"'), encoding="utf-8")
    with pytest.raises(TaskFileError, match="line 3: level 'In House' is not a plain name"):
        load_task_file(path)
    path.write_text(path.read_text().replace('level = "In House"', 'level = "in-house"'), encoding="utf-8")
    assert load_task_file(path).level == "in-house"
