"""`clue compare` end to end on two synthetic report directories (one in the current prediction row
format, one in the format that carries task, sample id, cluster and a metrics object)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clue_checks.cli import main
from clue_checks.report.integrity import stamped
from clue_checks.cli import compare as compare_cli
from clue_checks.cli import power as power_cli
from clue_checks.report.compare.paired import COMPARISON_RESAMPLES, COMPARISON_SEED
from clue_checks.report.numbers.levels import HEADLINE
from clue_checks.report.numbers.power import POWER
from clue_checks.report.run_dir import RunDirError, load_run_dir

SIZES = {"mednli": 200, "meqsum": 150, "problemsummary": 60, "longhealth-t1": 200, "longhealth-t2": 200,
         "longhealth-t3": 200, "medisumqa": 80, "medisumcode": 80}
MANIFEST = {"clue_checks_version": "0.1.0", "data_sha256": {"mednli/mli_test_v1.jsonl": "a" * 64},
            "profile": "paper", "api": "generate", "prompt_layout": "chat-template", "prompts_sha256": "b" * 64,
            "shots": {"mednli": 3}, "generation_params": {"mednli": {"max_new_tokens": 8}}}


def sample_ids(task, n):
    if task.startswith("longhealth"):
        return [f"p{i // 100}/q{(i // 5) % 20:02d}/r{i % 5}" for i in range(n)]
    if task == "medisumqa":
        return [f"note{i // 4}/q{i % 4 + 1}" for i in range(n)]
    return [f"{task}-{i}" for i in range(n)]


def baseline_scores(seed=0):
    rng = np.random.default_rng(seed)
    scores = {}
    for task, n in SIZES.items():
        if HEADLINE[task] == "accuracy":
            scores[task] = list((rng.random(n) < 0.6).astype(float))
        else:
            scores[task] = list(np.round(rng.beta(2, 6, n), 4))
    return scores


def degraded(scores):
    out = {t: list(v) for t, v in scores.items()}
    acc = out["mednli"]
    right, wrong = [i for i, v in enumerate(acc) if v == 1], [i for i, v in enumerate(acc) if v == 0]
    for i in right[:30]:
        acc[i] = 0.0  # 30 broke
    for i in wrong[:5]:
        acc[i] = 1.0  # 5 fixed
    out["meqsum"] = [round(max(v - 0.1, 0.0), 4) for v in out["meqsum"]]
    return out


def write_run(path, scores, *, model, manifest=None):
    (path / "predictions").mkdir(parents=True)
    tasks = {}
    for task, values in scores.items():
        metric = HEADLINE[task]
        rows = []
        for i, (sid, v) in enumerate(zip(sample_ids(task, len(values)), values)):
            outcome = "passed" if (v == 1 if metric == "accuracy" else v >= 0.1) else "failed"
            cluster = ("longhealth:" + sid.rsplit("/r", 1)[0] if task.startswith("longhealth") else
                       "medisumqa:" + sid.rsplit("/q", 1)[0] if task == "medisumqa" else None)
            rows.append({"id": sid, "task": task, "sample_id": sid, "index": i, "outcome": outcome,
                         "Model Answer": "…", "Ground Truth Answer": "…", "metrics": {metric: v},
                         "cluster": cluster, "response": "…", "reason": ""})
        (path / "predictions" / f"{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        tasks[task] = {"title": {"mednli": "MedNLI", "meqsum": "MeQSum"}.get(task, task),
                       "metrics": {metric: {"value": float(np.mean(values))}}}
    report = {"run": {"model_id": model, "profile": "paper", "api": "generate", "seeds": {"shots": 1}},
              "manifest": manifest or MANIFEST, "tasks": tasks, "levels": {}}
    report = stamped(report, sorted((path / "predictions").glob("*.jsonl")))  # as write_reports does
    (path / "clue-report.json").write_text(json.dumps(report))
    return path


@pytest.fixture
def runs(tmp_path):
    base = baseline_scores()
    ref = write_run(tmp_path / "base", base, model="base-7b")
    new = write_run(tmp_path / "finetune", degraded(base), model="med-7b")
    return ref, new


def row(markdown: str, section: str, title: str) -> list[str]:
    part = markdown.split(section, 1)[1]
    line = next(line for line in part.splitlines() if line.startswith(f"| {title} |"))
    return [cell.strip() for cell in line.strip("|").split("|")][1:]  # the cells after the title


def test_compare_shows_planted_regressions_and_identical_tasks(runs, capsys):
    ref, new = runs
    assert main(["compare", str(ref), str(new), "--resamples", "2000"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# CLUE comparison") and (new / "compare.md").read_text() == out
    headline = row(out, "## Headline scores", "MedNLI")
    assert headline[0] == "accuracy" and float(headline[1]) > float(headline[2])
    levels = row(out, "## Headline scores", "Level 1")  # the reports carry no levels: from the records
    assert float(levels[1]) - float(levels[2]) == pytest.approx(-float(row(out, "## finetune", "Level 1")[0][:6]
                                                                       .replace("−", "-")), abs=0.002)
    mednli = row(out, "## finetune − base", "MedNLI")
    assert mednli[0].startswith("−0.125 [") and mednli[1] == "< 0.0001"  # 25 of 200 lost: exact McNemar
    assert mednli[2] == "200" and mednli[3] == "35 of 200" and mednli[4] == "30 / 5" and float(mednli[5]) > 0
    meqsum = row(out, "## finetune − base", "MeQSum")
    assert meqsum[0].startswith("−0.") and meqsum[1] == "≤ 0.0005"  # drawn: the floor of 2,000 draws, a bound
    same = row(out, "## finetune − base", "longhealth-t2")
    # identical answers: no interval for either kind of score, the exact p, and "0 of 8 units differ"
    assert same[0] == "+0.000 (no interval)" and same[1] == "1" and same[2] == "200 (2 patients)"
    assert same[3] == "0 of 2"
    assert row(out, "## finetune − base", "medisumqa")[2] == "80 (20 clusters)"
    level1 = row(out, "## finetune − base", "Level 1")
    assert level1[0].startswith("−") and level1[1] != "1"
    assert row(out, "## finetune − base", "Level 2")[0].startswith("+0.000 (no interval)")
    assert "exact McNemar test (two-sided) over 200 pairs, 35 discordant; Tango score 95% interval" in out
    numbers = json.loads((new / "compare.json").read_text())["runs"]["finetune"]
    assert numbers["tasks"]["mednli.accuracy"]["discordant"] == {"broke": 30, "fixed": 5}
    assert len(numbers["broke"]["mednli"]) == 30 and numbers["tasks"]["mednli.accuracy"]["seed"] == COMPARISON_SEED
    assert "Forest plot: `compare.png`, `compare.svg`" in out


def test_the_forest_plot_is_byte_identical_on_a_rerun(runs, tmp_path):
    ref, new = runs
    outputs = []
    for attempt in range(2):
        out = tmp_path / f"cmp{attempt}" / "report.md"
        assert main(["compare", str(ref), str(new), "--resamples", "1000", "--out", str(out)]) == 0
        outputs.append({s: (out.parent / f"report.{s}").read_bytes() for s in ("png", "svg", "md", "json")})
    assert outputs[0]["png"].startswith(b"\x89PNG") and b"<svg" in outputs[0]["svg"]
    assert outputs[0]["png"] == outputs[1]["png"] and outputs[0]["svg"] == outputs[1]["svg"]
    assert outputs[0]["md"] == outputs[1]["md"]


def test_mismatched_manifests_are_refused_with_every_difference(tmp_path, capsys):
    base = baseline_scores()
    ref = write_run(tmp_path / "base", base, model="a")
    other = dict(MANIFEST, profile="head", prompts_sha256="c" * 64, data_sha256={"mednli/mli_test_v1.jsonl": "d" * 64})
    new = write_run(tmp_path / "new", base, model="b", manifest=other)
    assert main(["compare", str(ref), str(new), "--no-plot", "--resamples", "1000"]) == 2
    err = capsys.readouterr().err
    assert "are not comparable (3 differences" in err
    for what in ("data sha256 mednli/mli_test_v1.jsonl", "profile: 'head' / 'paper'", "prompts sha256"):
        assert what in err
    assert "--force" in err and not (new / "compare.md").exists()
    assert main(["compare", str(ref), str(new), "--no-plot", "--force", "--resamples", "1000"]) == 0
    out = capsys.readouterr().out
    assert "**Forced:** `new` differs from the reference in" in out and "Forest plot not drawn (--no-plot)" in out


def test_longhealth_can_be_compared_by_question(runs, capsys):
    ref, new = runs
    assert main(["compare", str(ref), str(new), "--no-plot", "--clue-longhealth-unit", "question"]) == 0
    assert row(capsys.readouterr().out, "## finetune − base", "longhealth-t2")[2] == "200 (40 questions)"


def test_several_runs_against_one_reference(runs, tmp_path, capsys):
    ref, new = runs
    same = write_run(tmp_path / "same", baseline_scores(), model="base-again")
    assert main(["compare", str(ref), str(new), str(same), "--no-plot", "--resamples", "1000"]) == 0
    out = capsys.readouterr().out
    assert "| Task | Metric | base | finetune | same |" in out
    assert row(out, "## same − base", "MedNLI")[:2] == ["+0.000 (no interval)", "1"]


@pytest.mark.parametrize("damage,message", [
    (lambda d: (d / "clue-report.json").unlink(), "not found"),
    (lambda d: (d / "clue-report.json").write_text("{"), "cannot read it as JSON"),
    (lambda d: (d / "predictions" / "mednli.jsonl").write_text('{"id": "x"}\nnot json\n'), "mednli.jsonl, line 2"),
    (lambda d: (d / "predictions" / "mednli.jsonl").write_text('{"outcome": "passed"}\n'),
     "mednli.jsonl, line 1: not a clue-checks prediction row"),
])
def test_an_unreadable_report_directory_names_the_file(runs, damage, message, capsys):
    ref, new = runs
    damage(new)
    assert main(["compare", str(ref), str(new), "--no-plot"]) == 2
    assert message in capsys.readouterr().err


def test_rows_are_read_back_as_sample_records(runs):
    ref, _ = runs
    record = next(r for r in load_run_dir(ref).records if r.task == "longhealth-t1")
    assert (record.sample_id, record.cluster, record.response) == ("p0/q00/r0", "longhealth:p0/q00", "…")
    assert set(record.metrics) == {HEADLINE["longhealth-t1"]}
    with pytest.raises(RunDirError, match="not a directory"):
        load_run_dir(ref / "missing")


def test_the_cli_defaults_equal_the_library_constants():
    # the CLI modules keep their own copies so that `clue --help` does not import scipy
    assert (compare_cli.DEFAULT_SEED, compare_cli.DEFAULT_RESAMPLES) == (COMPARISON_SEED, COMPARISON_RESAMPLES)
    assert power_cli.POWER == POWER


def _forge(folder) -> None:
    """Turn every wrong MedNLI answer into a right one, by hand."""
    path = folder / "predictions" / "mednli.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({**r, "outcome": "passed", "metrics": {"accuracy": 1.0}}) + "\n" for r in rows))


def test_forged_prediction_rows_are_refused_with_one_message_and_marked_when_forced(runs, capsys):
    ref, new = runs
    _forge(new)
    assert main(["compare", str(ref), str(new), "--no-plot", "--resamples", "1000"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{new / 'predictions' / 'mednli.jsonl'} was changed after the run wrote it" in err and "--force" in err
    assert not (new / "compare.md").exists()

    assert main(["compare", str(ref), str(new), "--no-plot", "--resamples", "1000", "--force"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("**forced past an integrity check: ") and "mednli.jsonl was changed" in out
    numbers = json.loads((new / "compare.json").read_text())
    assert numbers["integrity_forced"] and "mednli.jsonl" in numbers["integrity_forced"][0]


def test_a_prediction_file_added_or_removed_after_the_run_is_named(runs, capsys):
    ref, new = runs
    (new / "predictions" / "extra.jsonl").write_text("")
    (ref / "predictions" / "mednli.jsonl").unlink()
    assert main(["compare", str(ref), str(new), "--no-plot", "--resamples", "1000"]) == 2
    err = capsys.readouterr().err
    assert "extra.jsonl was not written by the run" in err and "mednli.jsonl is missing" in err
