"""The `finetune-degraded` baseline: deterministic, at its documented rates, each failure really produced,
and scored as a regression exactly where it was planted; the default variant unchanged."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clue_checks.endpoint.types import EndpointInfo
from clue_checks.metrics.classification import exactly_once
from clue_checks.rendering import Renderer, load_tokenizer
from clue_checks.rendering_specs import rendering_spec
from clue_checks.server import BaselineServer, heuristics, icd_codes, variants
from clue_checks.server.baseline import MODEL_ID, TOKENIZER_DIR, model_sha
from clue_checks.server.variants import DEGRADED, FINETUNE_DEGRADED, KINDS, VARIANTS, count_up, planted
from clue_checks.settings import BASELINE_VARIANTS, Settings
from clue_checks.tasks import TASKS, get_profile
from clue_checks.tasks.longhealth_answers import strict_letter
from clue_checks.tasks.tokens import LocalTokenCounter, UsesTokenCounter
from option_values import FakeConfig
from planted import planted_samples

FIXTURES = Path(__file__).resolve().parents[2] / "clue_checks" / "fixtures"
PAPER = get_profile("paper")
LABELS = ("entailment", "contradiction", "neutral")


@pytest.fixture(scope="module")
def prompts() -> dict[str, list[tuple[str, str]]]:
    """(test id, generate-mode prompt) per task on the fixtures, rendered as a run against the baseline does."""
    tokenizer = load_tokenizer(str(TOKENIZER_DIR))
    info = EndpointInfo(url="http://127.0.0.1:1", server_kind="clue-baseline", model_id=MODEL_ID,
                        max_input_tokens=10**6, max_total_tokens=10**6, supports_generate=True)
    renderer = Renderer("generate", info, tokenizer)
    out: dict[str, list[tuple[str, str]]] = {}
    for name, cls in TASKS.items():
        task = cls(PAPER)
        if isinstance(task, UsesTokenCounter):
            task.use_token_counter(LocalTokenCounter(tokenizer), window=10**6)
        loaded = task.load(FIXTURES)
        out[name] = [(s.test_id, renderer.request(task.prompt(s, loaded.shots), rendering_spec(task)).prompt) for s in loaded.samples]
    return out


@pytest.fixture(scope="module")
def degraded() -> Any:
    with BaselineServer(variant=FINETUNE_DEGRADED) as server:
        yield server


@pytest.fixture(scope="module")
def http() -> Any:
    """One client for the module's requests: `httpx.post` builds a client per call, and with it a TLS context
    that reads the CA bundle (~40 ms a request)."""
    with httpx.Client(timeout=60) as client:
        yield client


def generate(http: httpx.Client, server: BaselineServer, prompt: str, max_new_tokens: int = 200) -> dict[str, Any]:
    body = {"inputs": prompt, "parameters": {"max_new_tokens": max_new_tokens, "details": True}}
    return http.post(server.url + "/generate", json=body).json()


# -- the variants and the default -------------------------------------------------------------


def test_variant_names_agree_everywhere():
    assert VARIANTS == BASELINE_VARIANTS == ("default", "finetune-degraded")
    assert set(KINDS) == {kind for row in DEGRADED.values() for kind, _ in row}
    assert set(DEGRADED) == set(heuristics.TASKS)
    for row in DEGRADED.values():
        assert sum(share for _, share in row) < 1  # bands laid end to end inside [0, 1)


def test_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown baseline variant 'worse'; choose one of: default, finetune-degraded"):
        BaselineServer(variant="worse")
    with pytest.raises(ValueError, match="unknown baseline variant"):
        planted("worse", "mednli", "x")


def test_the_option_selects_the_embedded_baseline_only():
    from clue_checks.settings import resolve

    assert resolve(FakeConfig({})).baseline_variant == "default"
    assert resolve(FakeConfig({}, {"clue_baseline_variant": "finetune-degraded"})).baseline_variant == FINETUNE_DEGRADED
    with pytest.raises(pytest.UsageError, match="not one of default, finetune-degraded"):
        resolve(FakeConfig({"clue_baseline_variant": "worse"}))
    with pytest.raises(pytest.UsageError, match="clue serve-baseline --variant finetune-degraded"):
        resolve(FakeConfig({"clue_baseline_variant": FINETUNE_DEGRADED, "clue_model_endpoint": ["http://x:1"]}))


def test_default_variant_is_the_unchanged_baseline(prompts):
    server = BaselineServer()
    assert server.model_id == MODEL_ID and server.model_sha == model_sha()
    answer = variants.answerer("default")
    for name in ("mednli", "medisumqa", "longhealth-t3"):
        for _, prompt in prompts[name][:5]:
            assert answer(None, prompt, 1) == heuristics.answer(None, prompt)  # token limits are the server's job
            assert planted("default", name, prompt) is None


def test_the_degraded_variant_is_another_model(degraded):
    info = httpx.get(degraded.url + "/info", timeout=10).json()
    assert info["model_id"] == "clue-checks/parameterless-baseline-finetune-degraded"
    assert info["model_sha"] != model_sha() and info["router"] == "clue-checks-baseline"
    assert httpx.get(degraded.url + "/v1/models", timeout=10).json()["data"][0]["id"] == info["model_id"]


# -- determinism -------------------------------------------------------------------------------


def test_same_samples_same_answers_every_run(prompts, http):
    chosen = [p for name in ("mednli", "meqsum", "medisumcode", "longhealth-t3") for _, p in prompts[name][:12]]
    answers = []
    for _ in range(2):  # two servers, as two runs would start them
        with BaselineServer(variant=FINETUNE_DEGRADED) as server:
            answers.append([generate(http, server, p)["generated_text"] for p in chosen])
    assert answers[0] == answers[1]
    assert planted_samples(FINETUNE_DEGRADED, FIXTURES, tasks=["mednli", "meqsum"]) == \
        planted_samples(FINETUNE_DEGRADED, FIXTURES, tasks=["mednli", "meqsum"])


def test_chat_and_generate_requests_of_a_sample_are_hit_alike(prompts, degraded):
    from clue_checks.tasks.base import clue_prompts

    system = clue_prompts()["mednli"]["system"]
    hits = 0
    for _, prompt in prompts["mednli"]:
        # The same target as chat messages: the sample, not the wire format, decides.
        pair = re.findall(r"SENTENCE_1:.*\n\s*SENTENCE_2:.*", prompt)[-1]
        kind = planted(FINETUNE_DEGRADED, "mednli", prompt)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": pair}]
        assert planted(FINETUNE_DEGRADED, "mednli", messages) == kind
        hits += kind is not None
    assert hits > 0


# -- rates -------------------------------------------------------------------------------------


def within(observed: int, n: int, rate: float) -> bool:
    """Binomial: within three standard deviations (plus one sample) of the documented rate."""
    return abs(observed / n - rate) <= 3 * math.sqrt(rate * (1 - rate) / n) + 1 / n


@pytest.mark.parametrize("task", sorted(heuristics.TASKS))
def test_bands_hold_their_rates_over_many_samples(task):
    keys = [f"synthetic sample {i}" for i in range(20_000)]
    shares = [variants._share(FINETUNE_DEGRADED, task, key) for key in keys]
    start = 0.0
    for _, width in DEGRADED[task]:
        observed = sum(start <= s < start + width for s in shares)
        assert abs(observed / len(keys) - width) < 0.015
        start += width


def test_rates_hold_on_the_fixtures(prompts):
    """Per task and kind: the band hits within binomial tolerance of the documented rate. LongHealth's
    repeats share their question's key, so there the unit is the question."""
    for name, items in prompts.items():
        task = variants.base_task(name)
        keys = {variants.sample_key(task, prompt): prompt for _, prompt in items}
        assert None not in keys
        bands = Counter(variants.band(FINETUNE_DEGRADED, name, prompt) for prompt in keys.values())
        for kind, rate in DEGRADED[task]:
            if kind == "letter_not_f":  # a share of the prompts the baseline answers with F
                f_answers = [p for p in keys.values() if heuristics.answer(None, p).startswith("The correct answer is F:")]
                hits = sum(variants.band(FINETUNE_DEGRADED, name, p) == kind for p in f_answers)
                ignored = sum(variants.band(FINETUNE_DEGRADED, name, p) == "ignored_format" for p in f_answers)
                if f_answers:
                    # The band after ignored_format's: its share among F answers is rate / (1 - 0.15) of the rest.
                    assert within(hits, len(f_answers) - ignored, rate / (1 - DEGRADED[task][0][1])), (name, hits)
                continue
            assert within(bands[kind], len(keys), rate), (name, kind, bands[kind], len(keys))


# -- every failure really produced -----------------------------------------------------------


def hit(prompts: dict[str, list[tuple[str, str]]], task: str, kind: str) -> list[str]:
    return [p for _, p in prompts[task] if planted(FINETUNE_DEGRADED, task, p) == kind]


@pytest.mark.parametrize("task", ["mednli", "meqsum", "problemsummary", "medisumqa", "medisumcode"])
def test_repetition_loops_run_to_the_token_limit(prompts, degraded, http, task):
    loops = hit(prompts, task, "repetition_loop")
    assert loops, f"no {task} fixture sample falls in the loop band"
    for prompt in loops[:3]:
        out = generate(http, degraded, prompt, max_new_tokens=200)
        assert out["details"]["finish_reason"] == "length" and out["details"]["generated_tokens"] == 200
        default = heuristics.answer(None, prompt)
        phrase = re.split(r"(?<=[.?!])\s|[,;]\s*", default, maxsplit=1)[0]
        phrase = " ".join(phrase.split()[:variants.LOOP_WORDS])
        assert default.startswith(phrase) and out["generated_text"].startswith(f"{phrase} {phrase} {phrase}")


def test_mednli_loops_and_free_text_fail_clues_exactly_once_rule(prompts, degraded, http):
    for kind in ("repetition_loop", "ignored_format"):
        for prompt in hit(prompts, "mednli", kind):
            text = generate(http, degraded, prompt, max_new_tokens=20)["generated_text"]
            label = heuristics.answer(None, prompt)
            assert exactly_once(text, label) == 0.0
            if kind == "ignored_format":
                assert not any(name in text.lower() for name in LABELS)


def test_longhealth_ignored_format_has_no_letter(prompts, degraded, http):
    for task in ("longhealth-t1", "longhealth-t2", "longhealth-t3"):
        prompts_hit = hit(prompts, task, "ignored_format")
        assert prompts_hit
        for prompt in prompts_hit[:5]:
            text = generate(http, degraded, prompt, max_new_tokens=50)["generated_text"]
            assert strict_letter(text) is None and text.startswith("Based on the documents: ")


def test_longhealth_task3_gets_a_letter_instead_of_f(prompts, degraded, http):
    prompts_hit = hit(prompts, "longhealth-t3", "letter_not_f")
    assert prompts_hit
    for prompt in prompts_hit:
        assert heuristics.answer(None, prompt).startswith("The correct answer is F:")
        text = generate(http, degraded, prompt, max_new_tokens=50)["generated_text"]
        assert strict_letter(text) in tuple("ABCDE")


def test_icd_codes_are_counted_up_within_category_and_length(prompts, degraded, http):
    prompts_hit = hit(prompts, "medisumcode", "icd_digits_up")
    assert prompts_hit
    for prompt in prompts_hit:
        before = icd_codes.ICD_CODE.findall(heuristics.answer(None, prompt))
        after = icd_codes.ICD_CODE.findall(generate(http, degraded, prompt)["generated_text"])
        assert after == [count_up(code) for code in before] and after != before
        for old, new in zip(before, after):
            assert new[:3] == old[:3] and len(new) == len(old)


@pytest.mark.parametrize(("code", "counted"), [("E11.9", "E11.0"), ("E78.5", "E78.6"), ("S72.001A", "S72.002A"),
                                               ("I10", "I10"), ("R06.02", "R06.03"), ("S12.8XXA", "S12.9XXA"),
                                               ("E1165", "E1166")])
def test_count_up(code, counted):
    assert count_up(code) == counted


@given(st.from_regex(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?", fullmatch=True))
def test_count_up_keeps_category_and_length(code):
    counted = count_up(code)
    assert counted[:3] == code[:3] and len(counted) == len(code)
    assert (counted != code) == any(c.isdigit() for c in code[3:])


# -- planted samples are where the scores break -------------------------------------------------


def settings(url: str, tasks: tuple[str, ...]) -> Settings:
    return Settings(endpoints=(url,), api="generate", model_name=None, tokenizer=None, data_dir=FIXTURES,
                    tasks=tasks, limit=None, concurrency=8, cache_dir=None, refresh=False,
                    report_dir=Path("unused"), thresholds=None, profile="paper", exit_mode="pytest",
                    request_timeout=60.0, api_key=None)


def scores(server: BaselineServer, tasks: tuple[str, ...]) -> dict[str, dict[str, float | None]]:
    """Test id → metrics, through the real run (render, send, clean, score) against `server`."""
    from clue_checks.runner import Run

    run = Run(settings(server.url, tasks))
    run.connect([server.url])
    try:
        out = {}
        for name in tasks:
            run.load(name)
            samples = run.samples(name)
            run.prefetch(samples)
            for sample in samples:
                evaluated = run.evaluate(sample)
                out[sample.test_id] = run.tasks[name].score(sample, evaluated.scored_text, {}).metrics
        return out
    finally:
        run.close()


def test_broken_samples_are_exactly_the_planted_ones(degraded):
    tasks = ("mednli", "meqsum", "medisumcode", "longhealth-t3")
    headline = {"mednli": "accuracy", "meqsum": "rougeL", "medisumcode": "icd_em_f1", "longhealth-t3": "accuracy"}
    with BaselineServer() as base:
        before = scores(base, tasks)
    after = scores(degraded, tasks)
    planted_ids = planted_samples(FINETUNE_DEGRADED, FIXTURES, tasks=list(tasks))
    assert before.keys() == after.keys()
    for test_id in before:
        metric = headline[test_id.split(":")[0]]
        old, new = before[test_id][metric], after[test_id][metric]
        if test_id not in planted_ids:
            assert new == old, test_id  # nothing else changes
        elif test_id.startswith(("mednli", "longhealth")) and old == 1.0:
            assert new == 0.0, test_id  # right before, wrong now: a "broke" sample
        elif test_id.startswith("meqsum"):
            assert new < old or old == 0.0, test_id  # a loop lowers ROUGE
        else:
            assert new <= old, test_id
    assert any(before[t][headline[t.split(":")[0]]] == 1.0 for t in planted_ids)  # there is something to break
