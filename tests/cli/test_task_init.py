"""`clue init --task NAME`: a commented task file, placeholder data and the test module, ready to run."""

from __future__ import annotations

import pytest

from clue_checks.cli import main
from clue_checks.tasks import get_profile, load_task_file, read_task_file


def test_init_task_writes_a_task_file_its_data_and_its_test_module(tmp_path, capsys):
    assert main(["init", "--task", "ward-audit", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_ward_audit.py", "ward-audit.jsonl", "ward-audit.toml"]
    definition = read_task_file(tmp_path / "ward-audit.toml")
    assert (definition.name, definition.metric.name, definition.gates) == ("ward-audit", "accuracy",
                                                                           {"accuracy": ">= 0.5"})
    assert sum(line.lstrip().startswith("#") for line in (tmp_path / "ward-audit.toml").read_text().splitlines()) > 10
    assert 'clue_task(path="ward-audit.toml")' in (tmp_path / "test_ward_audit.py").read_text()
    loaded = load_task_file(tmp_path / "ward-audit.toml")(get_profile("paper")).load(tmp_path)
    assert [s.test_id for s in loaded.samples] == ["ward-audit:1", "ward-audit:2", "ward-audit:3"]
    assert "wrote the task 'ward-audit'" in capsys.readouterr().out


def test_init_task_refuses_a_bad_name_and_files_that_exist(tmp_path, capsys):
    assert main(["init", "--task", "Ward Audit", str(tmp_path)]) == 1
    assert "task name 'Ward Audit': use lower-case letters" in capsys.readouterr().err
    (tmp_path / "ward.toml").write_text("mine", encoding="utf-8")
    assert main(["init", "--task", "ward", str(tmp_path)]) == 1
    assert "already has ward.toml; nothing was written" in capsys.readouterr().err
    assert (tmp_path / "ward.toml").read_text() == "mine" and not (tmp_path / "ward.jsonl").exists()
    assert main(["init", "--task", "ward", "--force", str(tmp_path)]) == 0


@pytest.mark.parametrize("name", ["a", "discharge-qa", "coding_audit2"])
def test_every_plain_name_gives_a_task_that_reads(tmp_path, name):
    assert main(["init", "--task", name, str(tmp_path)]) == 0
    assert read_task_file(tmp_path / f"{name}.toml").name == name
