"""The provenance manifest: flat, sorted, hashes that mean what they say, no secrets."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from clue_checks.report.manifest import build_manifest, redact_args, redact_mapping, strip_option


def test_secrets_are_removed_from_the_command_line():
    args = ["pytest", "--model-endpoint=https://user:hunter2@tgi.example/x?api_key=abc&q=1", "--api-key", "sk-123",
            "--token=tok-9f8e", "-H", "Authorization: Bearer sk-456", "--clue-tasks=mednli", "--clue-tokenizer=/models/x"]
    shown = " ".join(redact_args(args))
    for secret in ("hunter2", "user:", "abc", "sk-123", "tok-9f8e", "sk-456"):
        assert secret not in shown
    assert "--clue-tasks=mednli" in shown and "tgi.example/x" in shown and "q=1" in shown and "/models/x" in shown


def test_secrets_are_removed_from_the_servers_answer():
    info = {"model_id": "m", "api_key": "sk-1", "nested": {"HF_TOKEN": "hf_x", "url": "http://a:b@h/"},
            "docker_label": "Bearer abc", "max_input_tokens": 4096, "token_budget": None}
    shown = json.dumps(redact_mapping(info))
    assert "sk-1" not in shown and "hf_x" not in shown and "a:b@" not in shown and "abc" not in shown
    assert redact_mapping(info)["max_input_tokens"] == 4096 and redact_mapping(info)["model_id"] == "m"


def test_the_shard_option_is_dropped_from_the_recorded_command():
    assert strip_option(["-q", "--clue-shard=1/2", "-x", "--clue-shard", "2/2", "--clue-sharding"], "--clue-shard") == \
        ["-q", "-x", "--clue-sharding"]


def test_the_manifest_is_flat_sorted_and_hashes_every_data_file(tmp_path: Path):
    data = tmp_path / "data"
    (data / "MedNLI").mkdir(parents=True)
    (data / "MedNLI" / "mli_test_v1.jsonl").write_bytes(b'{"x": 1}\n')
    manifest = build_manifest(
        data_dir=data, data_files=[data / "MedNLI" / "mli_test_v1.jsonl"] * 2, chat_template="{{ messages }}",
        chat_template_note="", generation={"mednli": {"max_new_tokens": 20, "stop": [], "truncate": None}},
        thresholds_source="t.toml", thresholds_text="[gate]\n", endpoint_info={"model_id": "m", "token": "s"},
        started="2026-01-01T00:00:00+00:00", duration_s=1.23456, command=["pytest", "--api-key=s"])
    assert list(manifest) == sorted(manifest)
    assert all(not isinstance(v, dict) for k, v in manifest.items() if k != "endpoint.info")
    assert manifest["data.sha256.MedNLI/mli_test_v1.jsonl"] == hashlib.sha256(b'{"x": 1}\n').hexdigest()
    assert manifest["chat_template.sha256"] == hashlib.sha256(b"{{ messages }}").hexdigest()
    assert manifest["thresholds.sha256"] == hashlib.sha256(b"[gate]\n").hexdigest()
    assert manifest["generation.mednli.max_new_tokens"] == 20
    assert manifest["endpoint.info"] == {"model_id": "m", "token": "***"}
    assert "s" not in manifest["command"].split("=")[-1] and manifest["run.duration_s"] == 1.235
    for package in ("transformers", "rouge-score", "bert-score", "torch", "simple-icd-10-cm"):
        assert manifest[f"package.{package}"]
    prompts = Path(__file__).resolve().parents[2] / "clue_checks" / "tasks" / "clue_prompts.json"
    assert manifest["prompts.sha256"] == hashlib.sha256(prompts.read_bytes()).hexdigest()


def test_a_missing_package_says_not_installed():
    from clue_checks.report.manifest import package_versions

    assert package_versions(["no-such-package-clue-checks"]) == {"no-such-package-clue-checks": "not installed"}


@pytest.mark.parametrize("template,note,expected", [(None, "chat mode", "none: chat mode")])
def test_no_chat_template_says_why(tmp_path, template, note, expected):
    manifest = build_manifest(data_dir=tmp_path, data_files=[], chat_template=template, chat_template_note=note,
                              generation={}, thresholds_source="t", thresholds_text="", endpoint_info=None,
                              started="s", duration_s=0, command=[])
    assert manifest["chat_template.sha256"] == expected
