"""Faithful on every model family: the Phi cut where CLUE made it, --clue-model-family overriding the
name-keyed quirks, --clue-prompt-layout choosing CLUE's layout, and the chat-mode warning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clue_checks.endpoint.types import EndpointInfo, Message
from clue_checks.rendering import LLAMA3_STOPS, PROMPT_LAYOUTS, Renderer, TemplateUnavailable, load_tokenizer
from clue_checks.rendering_specs import FEW_SHOT_TASKS, LONGHEALTH_TASKS, RenderingSpec, rendering_spec
from clue_checks.server import BaselineServer
from clue_checks.server.baseline import TOKENIZER_DIR
from clue_checks.settings import Settings
from clue_checks.tasks import TASKS, get_profile
from clue_checks.tasks.base import Prompt, Turn
from clue_checks.tasks.families import FAMILY_CHOICES, MODEL_FAMILIES, family_of, resolve_family
from option_values import FakeConfig

PAPER, HEAD = get_profile("paper"), get_profile("head")
FIXTURES = Path(__file__).resolve().parents[2] / "clue_checks" / "fixtures"

# -- families --------------------------------------------------------------------------------


@pytest.mark.parametrize(("model_id", "family"), [
    ("meta-llama/Meta-Llama-3.1-8B-Instruct", "llama3"), ("x/LLAMA3-med", "llama3"),
    ("microsoft/Phi-3-mini-128k-instruct", "phi"), ("/models/phi3", "phi"),
    ("/data/weights/release-7", "other"), ("mistralai/Mistral-7B-Instruct-v0.2", "other"),
    ("clue-checks/parameterless-baseline", "other"),
    # Both of CLUE's tests match: both quirks, as CLUE applied them.
    ("cognitivecomputations/dolphin-2.9-llama3-8b", "llama3,phi"), ("Phind/Phind-CodeLlama-34B-v2", "llama3,phi"),
])
def test_family_is_inferred_from_the_name_as_clue_did(model_id, family):
    assert family_of(model_id) == family
    assert resolve_family("auto", model_id) == family


@given(st.text(max_size=20), st.sampled_from(MODEL_FAMILIES))
def test_an_explicit_family_wins_over_any_model_id(model_id, family):
    assert resolve_family(family, model_id) == family


@pytest.mark.parametrize(("setting", "family"), [("llama3,phi", "llama3,phi"), ("phi, llama3", "llama3,phi"),
                                                ("phi,phi", "phi")])
def test_model_family_can_name_both_quirk_families_in_any_order(setting, family):
    assert resolve_family(setting, "/models/neutral") == family


def test_two_families_get_both_quirks():
    from clue_checks.endpoint.types import EndpointInfo
    from clue_checks.rendering import LLAMA3_STOPS, Renderer

    assert TASKS["mednli"](PAPER).clean("B <|end|> more", "llama3,phi") == "B"
    renderer = Renderer("generate", EndpointInfo(url="http://127.0.0.1:1", server_kind="tgi", model_id="x", max_total_tokens=4096), layout="base",
                        family="llama3,phi")
    task = TASKS["meqsum"](PAPER)
    sample = task.load(FIXTURES).samples[0]
    assert renderer.request(task.prompt(sample, ()), rendering_spec(task)).params.stop == LLAMA3_STOPS


def test_unknown_family_and_a_model_id_in_place_of_a_family_are_refused():
    assert FAMILY_CHOICES == ("auto", "llama3", "phi", "other")
    with pytest.raises(ValueError, match="unknown model family"):
        resolve_family("gemma", "x")
    with pytest.raises(ValueError, match="unknown model family"):
        resolve_family("other,phi", "x")
    # A caller still passing the model id would silently skip the Phi cut: refused instead.
    with pytest.raises(ValueError, match="expected a model family"):
        TASKS["mednli"](PAPER).clean("x <|end|>", "microsoft/Phi-3-mini")


# -- the Phi cut: every paper-profile task but LongHealth tasks 2 and 3 --------------------------

PHI_OUTPUT = "The correct answer is B: Aspirin. <|end|> You are an AI assistant"


@pytest.mark.parametrize("task", sorted(TASKS))
def test_phi_cut_is_made_where_clues_scripts_made_it(task):
    cleaned = TASKS[task](PAPER).clean(PHI_OUTPUT, "phi")
    if task in ("longhealth-t2", "longhealth-t3"):
        assert cleaned == PHI_OUTPUT  # CLUE's task 2/3 loop never cut
    else:
        assert cleaned == "The correct answer is B: Aspirin."
    assert TASKS[task](HEAD).clean(PHI_OUTPUT, "phi") == PHI_OUTPUT  # the vLLM-era code cleaned nothing


@pytest.mark.parametrize("task", sorted(TASKS))
def test_no_phi_cut_for_other_families(task):
    assert " <|end|>" in TASKS[task](PAPER).clean(PHI_OUTPUT.replace(" You are an AI assistant", ""), "other")
    assert " <|end|>" in TASKS[task](PAPER).clean(PHI_OUTPUT.replace(" You are an AI assistant", ""), "llama3")


# -- prompt layouts --------------------------------------------------------------------------

SYSTEM_REJECTING = ("{% for m in messages %}{% if m['role'] == 'system' %}"
                    "{{ raise_exception('System role not supported') }}{% endif %}"
                    "[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}")


def info(model_id: str = "/data/weights/release-7") -> EndpointInfo:
    return EndpointInfo(url="http://127.0.0.1:1", server_kind="tgi", model_id=model_id, max_input_tokens=8191,
                        max_total_tokens=8192, supports_generate=True)


def prompt() -> Prompt:
    messages = (Turn("system", "SYS"), Turn("user", "U1"), Turn("assistant", "A1"), Turn("user", "U2"))
    return Prompt(messages, 200, assistant_prefix="Question: ")


LONGHEALTH = RenderingSpec(system_merge_separator="", base_separator="\n\n\n", base_trailer="")


@pytest.fixture()
def tokenizer() -> Any:
    return load_tokenizer(str(TOKENIZER_DIR))  # a local folder with a chat template that takes a system role


def test_layout_values():
    assert PROMPT_LAYOUTS == ("auto", "template", "template-no-system", "base")


def test_template_layouts_render_with_and_without_the_system_role(tokenizer):
    for layout in ("auto", "template"):
        rendered = Renderer("generate", info(), tokenizer, layout=layout).request(prompt()).prompt
        assert rendered.startswith("<s><|system|>\nSYS<|end|>\n<|user|>\nU1<|end|>\n") and rendered.endswith(
            "<|assistant|>\nQuestion: ")
    merged = Renderer("generate", info(), tokenizer, layout="template-no-system")
    assert merged.request(prompt()).prompt.startswith("<s><|user|>\nSYS\n\nU1<|end|>\n<|assistant|>\nA1<|end|>\n")
    assert merged.layout_used == "template-no-system"
    lh = merged.request(prompt(), LONGHEALTH).prompt  # LongHealth: SYS + prompt, glued
    assert lh.startswith("<s><|user|>\nSYSU1<|end|>\n")


def test_base_layout_is_clues_transcript_even_with_a_chat_template(tokenizer):
    renderer = Renderer("generate", info(), tokenizer, layout="base")
    assert renderer.layout_used == "base"
    assert renderer.request(prompt()).prompt == "SYS\n\nU1\n\nA1\n\nU2\n\nQuestion: "
    lh = renderer.request(prompt(), LONGHEALTH).prompt  # LongHealth: SYS\n\n\nprompt
    assert lh == "SYS\n\n\nU1\n\n\nA1\n\n\nU2Question: "
    # The base layout needs no tokenizer at all.
    assert Renderer("generate", info(), None, layout="base").request(prompt()).prompt.startswith("SYS\n\nU1")


def test_auto_falls_back_to_merging_but_template_says_why(tokenizer):
    tokenizer.chat_template = SYSTEM_REJECTING
    auto = Renderer("generate", info(), tokenizer).request(prompt()).prompt
    assert auto.startswith("[user] SYS\n\nU1\n[assistant] A1\n")
    with pytest.raises(TemplateUnavailable, match="System role not supported.*--clue-prompt-layout template-no-system"):
        Renderer("generate", info(), tokenizer, layout="template").request(prompt())


def test_an_instruct_layout_without_a_chat_template_renders_transformers_4_39_default_chatml(tokenizer):
    tokenizer.chat_template = None
    rendered = Renderer("generate", info(), tokenizer, layout="template").render(prompt())
    # transformers 4.39.3's PreTrainedTokenizerBase.default_chat_template, with add_generation_prompt=True.
    import jinja2

    default = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
               "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
               "{% endif %}")
    expected = jinja2.Template(default).render(messages=[{"role": m.role, "content": m.content} for m in prompt().messages],
                                               add_generation_prompt=True)
    assert rendered == expected and rendered.startswith("<|im_start|>system\n")
    merged = Renderer("generate", info(), tokenizer, layout="template-no-system").render(prompt())
    assert merged.startswith("<|im_start|>user\n") and "<|im_start|>system" not in merged
    assert Renderer("generate", info(), tokenizer).layout_used == "base"  # auto: no template, a base model


def test_base_layout_cannot_go_over_chat():
    with pytest.raises(TemplateUnavailable, match="--clue-prompt-layout base .*--clue-api generate"):
        Renderer("chat", info(), layout="base")
    chat = Renderer("chat", info(), layout="template-no-system").request(prompt())
    assert chat.messages == (Message("user", "SYS\n\nU1"), Message("assistant", "A1"), Message("user", "U2"))


def test_model_family_overrides_the_llama3_stops(tokenizer):
    neutral = info("/data/weights/release-7")
    assert Renderer("generate", neutral, tokenizer).request(prompt()).params.stop == ()
    assert Renderer("generate", neutral, tokenizer, family="llama3").request(prompt()).params.stop == LLAMA3_STOPS
    llama = info("meta-llama/Meta-Llama-3-8B-Instruct")
    assert Renderer("generate", llama, tokenizer, family="other").request(prompt()).params.stop == ()
    assert Renderer("generate", llama, tokenizer, model_quirks=False).request(prompt()).params.stop == ()


def test_what_chat_mode_loses_is_named():
    assert Renderer("chat", info(), family="llama3").lost_in_chat_mode(truncates=True) == [
        "the assistant prefix is not prefilled (the model writes its own; an echoed prefix is removed before "
        "scoring)", "no TGI `truncate` is sent (an over-long prompt is refused, not cut from the left)",
        "the Llama-3 stop strings are not sent"]
    assert Renderer("chat", info(), use_prefix=False, model_quirks=False).lost_in_chat_mode(truncates=False) == []


# -- the run: options reach the renderer and the clean-up; the warning for the plugin's header ------


def settings(url: str, **kwargs: Any) -> Settings:
    base = dict(endpoints=(url,), api="generate", model_name=None, tokenizer=None, data_dir=FIXTURES,
                tasks=tuple(TASKS), limit=None, concurrency=4, cache_dir=None, refresh=False,
                report_dir=Path("unused"), thresholds=None, profile="paper", exit_mode="pytest",
                request_timeout=30.0, api_key=None)
    return Settings(**(base | kwargs))


@pytest.fixture(scope="module")
def baseline() -> Any:
    with BaselineServer() as server:
        yield server


def connected(baseline: BaselineServer, **kwargs: Any) -> Any:
    from clue_checks.runner import Run

    run = Run(settings(baseline.url, **kwargs))
    run.connect([baseline.url])
    return run


def test_run_resolves_family_and_layout_and_reports_them(baseline):
    run = connected(baseline)
    try:
        assert run.family == "other" and run.describe()["model_family"] == "other"
        assert run.describe()["prompt_layout"] == "template" and run.mode_warnings() == []
    finally:
        run.close()
    run = connected(baseline, model_family="phi", prompt_layout="base")
    try:
        assert run.family == "phi" and run.describe()["prompt_layout"] == "base"
        sample = run.samples("meqsum")[0]
        run.load("meqsum")
        _, request = run.request_for(sample)
        assert "<|system|>" not in request.prompt and request.prompt.endswith("\n\nQuestion: ")
    finally:
        run.close()


def test_the_phi_family_reaches_the_clean_up(baseline, monkeypatch):
    from clue_checks.tasks.longhealth import LongHealthT1, LongHealthT2

    seen: list[str] = []
    for cls in (LongHealthT1, LongHealthT2):
        original = cls.clean
        monkeypatch.setattr(cls, "clean", lambda self, text, family, _o=original: seen.append(family) or _o(self, text, family))
    run = connected(baseline, model_family="phi", tasks=("longhealth-t1", "longhealth-t2"))
    try:
        for task in ("longhealth-t1", "longhealth-t2"):
            run.load(task)
            run.prefetch(run.samples(task)[:1])
            run.evaluate(run.samples(task)[0])
        assert seen == ["phi", "phi"]
    finally:
        run.close()


def test_chat_mode_under_the_paper_profile_warns_and_head_does_not(baseline):
    run = connected(baseline, api="chat", model_family="llama3")
    try:
        (warning,) = run.mode_warnings()
        assert warning.startswith("chat mode under the paper profile: the assistant prefix is not prefilled")
        assert "no TGI `truncate`" in warning and "Llama-3 stop strings" in warning and "--clue-api generate" in warning
    finally:
        run.close()
    run = connected(baseline, api="chat", profile="head")
    try:
        assert run.mode_warnings() == []
    finally:
        run.close()


# -- options ---------------------------------------------------------------------------------


def test_options_resolve_with_defaults_and_ini():
    from clue_checks.settings import resolve

    plain = resolve(FakeConfig({}))
    assert (plain.prompt_layout, plain.model_family) == ("auto", "auto")
    given_ = resolve(FakeConfig({"clue_prompt_layout": "base"}, {"clue_model_family": "phi"}))
    assert (given_.prompt_layout, given_.model_family) == ("base", "phi")


@pytest.mark.parametrize(("cli", "ini", "message"), [
    ({}, {"clue_prompt_layout": "chatml"}, "--clue-prompt-layout / clue_prompt_layout: 'chatml' is not one of"),
    ({}, {"clue_model_family": "gemma"}, "--clue-model-family / clue_model_family: unknown model family 'gemma'"),
    ({"clue_system_role": "merge", "clue_prompt_layout": "template"}, {}, "contradicts --clue-prompt-layout template"),
    ({"clue_system_role": "merge", "clue_prompt_layout": "base"}, {}, "contradicts --clue-prompt-layout base"),
])
def test_bad_option_values_are_usage_errors(cli, ini, message):
    from clue_checks.settings import resolve

    with pytest.raises(pytest.UsageError, match=message):
        resolve(FakeConfig(cli, ini))


def test_every_clue_task_has_clues_wire_settings():
    assert set(FEW_SHOT_TASKS) | set(LONGHEALTH_TASKS) == set(TASKS)
    paper = {name: rendering_spec(cls(PAPER)) for name, cls in TASKS.items()}
    assert paper["meqsum"] == RenderingSpec(truncate_reserve=200, truncate_cap=24576)
    assert paper["mednli"] == RenderingSpec(truncate_reserve=200)
    assert paper["longhealth-t1"] == RenderingSpec(50, None, True, "", "\n\n\n", "")
    assert paper["longhealth-t3"] == RenderingSpec(None, None, False, "", "\n\n\n", "")
    assert rendering_spec(TASKS["meqsum"](get_profile("head"))).truncate_reserve is None
