"""docs/clue-faithfulness.md's tables are the code's: the clean-up per task, the prompt layouts, the families
and the decoding settings. A change to either side without the other fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clue_checks.endpoint.types import GenerationParams, Message, Request
from clue_checks.endpoint.wire import DECODING, chat_body, decoding_fields, generate_body
from clue_checks.rendering import PROMPT_LAYOUTS
from clue_checks.tasks import TASKS, get_profile
from clue_checks.tasks.families import family_of, resolve_family

DOC = Path(__file__).resolve().parents[2] / "docs" / "clue-faithfulness.md"
PAPER = get_profile("paper")
YES_NO = {"yes": True, "no": False}


def table_after(marker: str) -> list[list[str]]:
    """The rows (cells stripped of backticks) of the Markdown table after `<!-- marker -->`."""
    lines = DOC.read_text(encoding="utf-8").split(f"<!-- {marker} -->", 1)[1].strip().splitlines()
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([c.strip().replace("`", "") for c in line.strip("|").split("|")])
    return rows[2:]  # no header, no rule


def test_the_clean_up_table_is_each_tasks_clean_up():
    rows = {title: cells for title, *cells in table_after("clean-up table")}
    tasks = {cls(PAPER, {}).title: cls(PAPER, {}) for cls in TASKS.values()}
    assert set(rows) == set(tasks)
    for title, (stripped, phi, self_prompting) in rows.items():
        task = tasks[title]
        assert task.phi_cut is YES_NO[phi], title
        assert task.self_prompting_cleanup is YES_NO[self_prompting], title
        # Behaviour, not only flags: the Phi cut happens, stripping comes first where the doc says so.
        cleaned = task.clean("  A <|end|> B", "phi")
        assert cleaned == ("A" if YES_NO[stripped] else "  A") if YES_NO[phi] else cleaned == "  A <|end|> B", title
        leftover = task.clean("  ans\nYou are an AI model", "other")
        assert ("You are an AI" not in leftover) is YES_NO[self_prompting], title


def test_medisumqa_strips_before_the_phi_cut():
    medisumqa = TASKS["medisumqa"](PAPER, {})
    assert medisumqa.clean(" <|end|> tail", "phi") == "<|end|> tail"  # stripped first: no " <|end|>" left to cut


def test_the_layout_table_names_every_prompt_layout():
    assert [row[0] for row in table_after("layout table")] == ["template", "template-no-system", "base", "auto (default)"]
    assert set(PROMPT_LAYOUTS) == {"template", "template-no-system", "base", "auto"}


@pytest.mark.parametrize("name", ["dolphin-2.9-llama3-8b", "Phind-CodeLlama-34B-v2"])
def test_the_doc_examples_of_two_families_get_both(name):
    assert name in DOC.read_text(encoding="utf-8")
    assert family_of(name) == "llama3,phi" == resolve_family("llama3,phi", "/models/x")


def test_the_decoding_settings_the_doc_states_are_the_bodies_and_the_manifests():
    text = DOC.read_text(encoding="utf-8")
    assert '`{"do_sample": false, "max_new_tokens": N}`' in text and '`{"temperature": 0, "max_tokens": N}`' in text
    params = GenerationParams(max_new_tokens=7)
    generate = generate_body(Request("generate", params, prompt="x"))["parameters"]
    assert generate["do_sample"] is False and not {"temperature", "top_p", "top_k"} & set(generate)
    info = type("Info", (), {"served_model_name": "m", "model_id": "m"})()
    chat = chat_body(Request("chat", params, messages=(Message("user", "x"),)), info)  # type: ignore[arg-type]
    assert chat["temperature"] == 0.0 and "top_p" not in chat
    assert decoding_fields("generate") == {"do_sample": False} and decoding_fields("chat") == {"temperature": 0.0}
    for mode, fields in DECODING.items():
        for key in fields:
            assert re.search(rf"generation\.<task>\.{key}", text), (mode, key)
