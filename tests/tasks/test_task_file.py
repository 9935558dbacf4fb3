"""The task file: what it accepts, what it refuses (file, line and fix), and the task it makes."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clue_checks.tasks import get_profile
from clue_checks.tasks.answers import AnswerParser
from clue_checks.tasks.file_task import load_task_file
from clue_checks.tasks.taskfile import TaskFileError, read_task_file

GOOD = """\
[task]
name = "triage"
title = "Triage"

[data]
file = "data.jsonl"
id = "id"
inputs = ["text"]
reference = "label"
cluster = "ward"

[prompt]
system = "Classify."
user = "Text: {{ text }}"
assistant_prefix = "Level: "

[shots]
ids = ["s1"]

[generation]
max_new_tokens = 8
stop = ["\\n"]

[answer]
parser = "choices"
choices = ["urgent", "routine"]

[metric]
name = "accuracy"
kind = "binary"

[gate]
accuracy = ">= 0.5"
"""

ROWS = [{"id": "s1", "text": "chest pain", "label": "urgent", "ward": "A"},
        {"id": "2", "text": "repeat prescription", "label": "routine", "ward": "A"},
        {"id": 3, "text": "short of breath", "label": "urgent", "ward": "B"}]


def write(tmp_path: Path, toml: str = GOOD, rows=ROWS) -> Path:
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    path = tmp_path / "task.toml"
    path.write_text(toml, encoding="utf-8")
    return path


def test_a_task_file_makes_a_task_with_samples_prompts_scores_and_clusters(tmp_path):
    cls = load_task_file(write(tmp_path))
    task = cls(get_profile("paper"))
    loaded = task.load(tmp_path / "unused")
    assert [s.id for s in loaded.shots] == ["s1"] and [s.test_id for s in loaded.samples] == ["triage:2", "triage:3"]
    assert loaded.sources == (tmp_path / "data.jsonl", tmp_path / "task.toml")
    prompt = task.prompt(loaded.samples[0], loaded.shots)
    assert [(m.role, m.content) for m in prompt.messages] == [
        ("system", "Classify."), ("user", "Text: chest pain"), ("assistant", "urgent"),
        ("user", "Text: repeat prescription")]
    assert prompt.assistant_prefix == "Level: " and prompt.stop_sequences == ("\n",) and prompt.max_new_tokens == 8
    assert task.prompt(loaded.samples[0], ()).assistant_prefix == "Level: "
    assert cls(get_profile("head")).prompt(loaded.samples[0], ()).assistant_prefix == ""
    right = task.score(loaded.samples[0], "Routine.", {})
    wrong = task.score(loaded.samples[0], "urgent, not routine", {})
    assert (right.metrics, right.passed) == ({"accuracy": 1.0}, True)
    assert (wrong.metrics, wrong.passed) == ({"accuracy": 0.0}, False) and "no answer" in wrong.reason
    assert task.cluster_of(loaded.samples[1]) == "triage:B"
    assert (cls.level, cls.metric_names, cls.floor_metrics, cls.credentialed) == (None, ("accuracy",), (), False)


def test_a_continuous_metric_takes_floors_and_its_sample_passes_them(tmp_path):
    toml = GOOD.replace('parser = "choices"\nchoices = ["urgent", "routine"]', 'parser = "text"') \
        .replace('name = "accuracy"\nkind = "binary"', 'name = "rougeL"\nkind = "continuous"') \
        .replace('[gate]\naccuracy = ">= 0.5"', '[sample]\nrougeL = 0.5\n[compare]\nrougeL = "no regression"')
    cls = load_task_file(write(tmp_path, toml))
    task = cls(get_profile("paper"))
    sample = task.load(tmp_path).samples[0]
    assert cls.floor_metrics == ("rougeL", "rouge1", "rouge2") and cls.floor_is_the_check
    assert task.score(sample, "routine", {"rougeL": 0.5}).passed
    assert not task.score(sample, "something else", {"rougeL": 0.5}).passed


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(("change", "line_with", "fix"), [
    (lambda t: t.replace('title = "Triage"', 'title = "Triage"\ncolour = "red"'), "colour", "use one of name"),
    (lambda t: t.replace('user = "Text: {{ text }}"', 'user = "Text: {{ txt }}"'), "user =", "add 'txt'"),
    (lambda t: t.replace('user = "Text: {{ text }}"', 'user = "Text: {{ text }"'), "user =", "Jinja2 syntax"),
    (lambda t: t.replace('name = "accuracy"', 'name = "bleu"'), 'name = "bleu"', "use one of accuracy"),
    (lambda t: t.replace('kind = "binary"', 'kind = "continuous"'), "kind =", 'write kind = "binary"'),
    (lambda t: t + '\n[sample]\naccuracy = 0.5\n', "accuracy = 0.5", "set a task gate instead"),
    (lambda t: t.replace('accuracy = ">= 0.5"', 'accuracy = ">= 50"'), 'accuracy = ">= 50"', "thresholds syntax"),
    (lambda t: t.replace('reference = "label"\n', ''), "[data]", "add reference"),
    (lambda t: t.replace('parser = "choices"', 'parser = "vote"'), 'parser = "vote"', "use one of choices"),
])
def test_a_bad_task_file_is_one_message_naming_the_file_the_line_and_the_fix(tmp_path, change, line_with, fix):
    text = change(GOOD)
    path = write(tmp_path, text)
    with pytest.raises(TaskFileError) as caught:
        read_task_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}, line {_line_of(text, line_with)}: "), message
    assert fix in message and "\n" not in message


def test_a_missing_column_is_found_when_the_data_is_read_naming_the_row_and_the_task_file(tmp_path):
    from clue_checks.data.errors import DataError

    rows = [dict(ROWS[0]), {"id": "2", "text": "x", "ward": "A"}]
    cls = load_task_file(write(tmp_path, rows=rows))
    with pytest.raises(DataError, match=r"data.jsonl, line 2: missing field 'label' .*fix \[data\] in .*task.toml"):
        cls(get_profile("paper")).load(tmp_path)


def test_a_csv_without_a_declared_column_is_refused_at_its_header(tmp_path):
    from clue_checks.data.errors import DataError

    (tmp_path / "data.csv").write_text("id,text,ward\n1,a,A\n", encoding="utf-8")
    path = tmp_path / "task.toml"
    path.write_text(GOOD.replace("data.jsonl", "data.csv").replace('ids = ["s1"]', ""), encoding="utf-8")
    with pytest.raises(DataError, match=r"data.csv, line 1: missing column\(s\) 'label'"):
        load_task_file(path)(get_profile("paper")).load(tmp_path)


def test_the_template_is_sandboxed(tmp_path):
    toml = GOOD.replace('user = "Text: {{ text }}"', 'user = "{{ text.__class__.__mro__ }}"')
    task = load_task_file(write(tmp_path, toml))(get_profile("paper"))
    loaded = task.load(tmp_path)
    from jinja2.exceptions import SecurityError

    with pytest.raises(SecurityError):
        task.prompt(loaded.samples[0], ())


# -- generated task files and data -----------------------------------------------------------------------------

_field = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(inputs=st.lists(_field, min_size=1, max_size=3, unique=True),
       values=st.lists(st.tuples(_text, st.sampled_from(["yes", "no"])), min_size=2, max_size=8),
       order=st.sampled_from(["as-written", "shuffle-seed-1"]), n_shots=st.integers(0, 1),
       suffix=st.sampled_from(["jsonl", "csv"]))
def test_generated_task_files_load_and_render_every_field(tmp_path_factory, inputs, values, order, n_shots, suffix):
    tmp = tmp_path_factory.mktemp("gen")
    fields = [f for f in inputs if f not in ("id", "gold")]
    if not fields:
        return
    rows = [{"id": f"r{i}", "gold": gold, **{f: f"{text}-{f}" for f in fields}} for i, (text, gold) in enumerate(values)]
    if suffix == "jsonl":
        (tmp / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        with (tmp / "d.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    template = " | ".join("{{ %s }}" % f for f in fields)
    shots = json.dumps([r["id"] for r in rows[:n_shots]])
    (tmp / "t.toml").write_text(f"""
[task]
name = "gen"
[data]
file = "d.{suffix}"
id = "id"
inputs = {json.dumps(fields)}
reference = "gold"
[prompt]
user = {json.dumps(template)}
[shots]
ids = {shots}
order = "{order}"
[generation]
max_new_tokens = 3
[answer]
parser = "choices"
choices = ["yes", "no"]
[metric]
name = "accuracy"
kind = "binary"
""", encoding="utf-8")
    task = load_task_file(tmp / "t.toml")(get_profile("paper"))
    loaded = task.load(tmp)
    assert len(loaded.samples) == len(rows) - n_shots
    for sample in loaded.samples:
        last = task.prompt(sample, loaded.shots).messages[-1].content
        assert last == " | ".join(sample.record[f] for f in fields)
        assert task.score(sample, sample.reference, {}).passed


@given(choices=st.lists(st.from_regex(r"[a-z]{2,8}", fullmatch=True), min_size=2, max_size=4, unique=True),
       pick=st.integers(0, 3), before=st.sampled_from(["", "The answer is ", "**"]),
       after=st.sampled_from(["", ".", "!", " because of X"]))
def test_the_choices_parser_reads_the_one_label_named_whatever_the_case(choices, pick, before, after):
    label = choices[pick % len(choices)]
    if any(other in label or label in other for other in choices if other != label):
        return  # one label inside another: not the case this property is about
    if any(re.search(rf"(?<!\w){c}(?!\w)", (before + after).lower()) for c in choices):
        return
    parser = AnswerParser("choices", tuple(choices))
    assert parser.parse(f"{before}{label.upper()}{after}") == label
    assert parser.parse(f"{choices[0]} or {choices[1]}") is None


@given(st.text(max_size=60))
def test_every_parser_reads_any_text_without_raising(text):
    for parser in (AnswerParser("text"), AnswerParser("codes"), AnswerParser("regex", pattern=r"Answer: (\w+)"),
                   AnswerParser("choices", ("yes", "no"))):
        parser.parse(text)


def test_a_task_files_stop_strings_are_sent_in_both_api_modes_and_join_llama3s(tmp_path):
    from clue_checks.endpoint.types import EndpointInfo
    from clue_checks.rendering import LLAMA3_STOPS, Renderer
    from clue_checks.rendering_specs import rendering_spec

    task = load_task_file(write(tmp_path))(get_profile("paper"))
    loaded = task.load(tmp_path)
    prompt = task.prompt(loaded.samples[0], loaded.shots)
    chat = Renderer("chat", EndpointInfo("http://x", "vllm", "meta-llama/Meta-Llama-3-8B-Instruct"))
    base = Renderer("generate", EndpointInfo("http://x", "tgi", "meta-llama/Meta-Llama-3-8B-Instruct"),
                    layout="base")
    spec = rendering_spec(task)
    assert chat.request(prompt, spec).params.stop == ("\n",)
    assert base.request(prompt, spec).params.stop == ("\n",)  # a task file's task sends no CLUE quirk stop strings
    from dataclasses import replace

    assert base.request(prompt, replace(spec, model_stop_sequences=True)).params.stop == ("\n", *LLAMA3_STOPS)


_SECTIONS = ("task", "data", "prompt", "generation", "answer", "metric")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(section=st.sampled_from(_SECTIONS), key=st.from_regex(r"[a-z][a-z_]{2,12}", fullmatch=True),
       value=st.sampled_from(['"x"', "1", "true", "[1, 2]"]))
def test_any_unknown_key_in_any_section_is_named_with_its_line(tmp_path_factory, section, key, value):
    from clue_checks.tasks.taskfile import _SCHEMA

    if key in _SCHEMA[section]:
        return
    text = GOOD.replace(f"[{section}]\n", f"[{section}]\n{key} = {value}\n", 1)
    path = write(tmp_path_factory.mktemp("bad"), text)
    with pytest.raises(TaskFileError) as caught:
        read_task_file(path)
    assert str(caught.value).startswith(f"{path}, line {_line_of(text, f'{key} = {value}')}: unknown key {key!r} "
                                        f"in [{section}]; use one of ")


def test_inline_shots_come_after_the_rows_named_and_need_every_input_and_the_reference(tmp_path):
    toml = GOOD.replace('[shots]\nids = ["s1"]', '[shots]\nids = ["s1"]\n[[shots.inline]]\ntext = "rash"\n'
                                                  'label = "routine"')
    task = load_task_file(write(tmp_path, toml))(get_profile("paper"))
    loaded = task.load(tmp_path)
    assert [(s.id, s.reference) for s in loaded.shots] == [("s1", "urgent"), ("inline-shot-1", "routine")]
    with pytest.raises(TaskFileError, match=r"inline shot 1 lacks label; give every input and the reference"):
        read_task_file(write(tmp_path, toml.replace('label = "routine"', '')))
    top = write(tmp_path, 'colour = "red"\n' + GOOD)
    with pytest.raises(TaskFileError, match=rf"^{re.escape(str(top))}, line 1: unknown key 'colour'; use the sections"):
        read_task_file(top)


def test_an_xlsx_task_reads_its_sheet_and_numbers_as_text(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Cases"
    sheet.append(["id", "text", "label", "ward"])
    sheet.append([1, "chest pain", "urgent", "A"])
    sheet.append([2, "repeat prescription", "routine", "B"])
    book.save(tmp_path / "data.xlsx")
    path = tmp_path / "task.toml"
    path.write_text(GOOD.replace('file = "data.jsonl"', 'file = "data.xlsx"\nsheet = "Cases"')
                    .replace('ids = ["s1"]', 'ids = ["1"]'), encoding="utf-8")
    loaded = load_task_file(path)(get_profile("paper")).load(tmp_path)
    assert [(s.id, s.record["text"]) for s in loaded.samples] == [("2", "repeat prescription")]
    no_sheet = tmp_path / "nosheet.toml"
    no_sheet.write_text(GOOD.replace('file = "data.jsonl"', 'file = "data.xlsx"'), encoding="utf-8")
    with pytest.raises(TaskFileError, match='needs the worksheet\'s name; add sheet = "Sheet1" to \\[data\\]'):
        read_task_file(no_sheet)


def test_a_task_file_marks_its_data_credentialed(tmp_path):
    cls = load_task_file(write(tmp_path, GOOD.replace('title = "Triage"', 'title = "Triage"\ncredentialed = true')))
    assert cls.credentialed is True and cls.task_file == tmp_path / "task.toml" and len(cls.identity) == 64
    with pytest.raises(TaskFileError, match=r"credentialed must be true or false, got 'yes'"):
        read_task_file(write(tmp_path, GOOD.replace('title = "Triage"', 'title = "Triage"\ncredentialed = "yes"')))
