"""Two runs are compared only when their manifests agree; every difference is listed at once."""

from __future__ import annotations

import copy

import pytest

from clue_checks.report.compare.manifest_check import ComparabilityError, check_comparable, require_comparable

HEX_A, HEX_B = "a" * 64, "b" * 64


def report(**changes):
    manifest = {
        "clue_checks_version": "0.3.1",
        "data_sha256": {"mednli/mli_test_v1.jsonl": HEX_A, "meqsum/MeQSum.xlsx": HEX_B},
        "profile": "paper", "api": "generate", "prompt_layout": "chat-template",
        "prompts_sha256": HEX_A, "chat_template_sha256": HEX_B,
        "shots": {"mednli": 3, "meqsum": 3},
        "generation_params": {"mednli": {"max_new_tokens": 8, "do_sample": False, "model": "base-7b"}},
    }
    run = {"model_id": "base-7b", "profile": "paper", "api": "generate",
           "seeds": {"shots": 1, "longhealth": 2, "bootstrap": 3, "bootstrap_resamples": 1000}}
    out = {"manifest": manifest, "run": run}
    for path, value in changes.items():
        node = out
        *parents, leaf = path.split("__")
        for key in parents:
            node = node[key]
        if value is None:
            del node[leaf]
        else:
            node[leaf] = value
    return out


def test_identical_manifests_are_comparable():
    result = check_comparable(report(), report())
    assert result.ok and not result.forced and result.differences == ()


def test_two_models_differ_in_name_chat_template_and_bootstrap_seed_and_are_still_comparable():
    other = report(manifest__chat_template_sha256=HEX_A, run__model_id="finetune-7b",
                   run__seeds={"shots": 1, "longhealth": 2, "bootstrap": 99, "bootstrap_resamples": 10})
    other["manifest"]["generation_params"]["mednli"]["model"] = "finetune-7b"
    result = check_comparable(other, report())
    assert result.ok
    assert result.notes == (f"chat template sha256: sha256 {HEX_A[:12]}… / sha256 {HEX_B[:12]}…",)


def test_every_difference_is_listed_in_one_message():
    new = report(manifest__profile="vllm", run__profile="vllm", manifest__api="chat",
                 manifest__prompt_layout="plain", manifest__prompts_sha256=HEX_B,
                 manifest__shots={"mednli": 0, "meqsum": 3},
                 run__seeds={"shots": 7, "longhealth": 2, "bootstrap": 3},
                 manifest__clue_checks_version="1.0.0")
    new["manifest"]["data_sha256"]["mednli/mli_test_v1.jsonl"] = HEX_B
    del new["manifest"]["data_sha256"]["meqsum/MeQSum.xlsx"]
    new["manifest"]["generation_params"]["mednli"]["max_new_tokens"] = 16
    result = check_comparable(new, report())
    assert list(result.differences) == [
        f"data sha256 mednli/mli_test_v1.jsonl: sha256 {HEX_B[:12]}… / sha256 {HEX_A[:12]}…",
        f"data sha256 meqsum/MeQSum.xlsx: absent / sha256 {HEX_B[:12]}…",
        "profile: 'vllm' / 'paper'",
        "wire mode: 'chat' / 'generate'",
        "prompt layout: 'plain' / 'chat-template'",
        f"prompts sha256: sha256 {HEX_B[:12]}… / sha256 {HEX_A[:12]}…",
        "shots mednli: 0 / 3",
        "seeds shots: 7 / 1",
        "generation parameters mednli max_new_tokens: 16 / 8",
        "clue-checks major version: '1.0.0' / '0.3.1'",
    ]
    with pytest.raises(ComparabilityError) as info:
        require_comparable(new, report(), new_name="runs/new", baseline_name="runs/base")
    message = str(info.value)
    assert message.startswith("runs/new and runs/base are not comparable (10 differences")
    assert all(line in message for line in result.differences) and "--clue-baseline-force" in message


def test_a_minor_version_change_is_comparable_and_a_key_on_one_side_only_is_not():
    assert check_comparable(report(manifest__clue_checks_version="0.9.0"), report()).ok
    result = check_comparable(report(manifest__prompt_layout=None), report())
    assert result.differences == ("prompt layout: absent / 'chat-template'",)


def test_keys_missing_on_both_sides_are_not_checked():
    bare = {"run": {"profile": "paper"}}
    assert check_comparable(bare, copy.deepcopy(bare)).ok
    assert check_comparable({}, {}).ok


def test_the_run_section_stands_in_for_a_manifest_key():
    new, base = report(manifest__api=None), report(manifest__api=None)
    new["run"]["api"] = "chat"
    assert check_comparable(new, base).differences == ("wire mode: 'chat' / 'generate'",)


def test_force_compares_anyway_and_marks_it():
    different = report(manifest__profile="vllm")
    result = require_comparable(different, report(), force=True)
    assert result.forced and not result.ok and result.as_dict()["forced"] is True
    assert not require_comparable(report(), report(), force=True).forced  # nothing was forced
