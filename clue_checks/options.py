"""The plugin's options: one table of every command-line option and its ini key, their registration
with pytest, and the usage error for an option spelled as it was before the `clue-` prefix.

Read in every pytest session of the environment, so it imports no task code: the choices come from
:mod:`clue_checks.names`.
"""

from __future__ import annotations

from typing import Any

import pytest

from clue_checks.names import BASELINE_VARIANTS, PROFILES, PROMPT_LAYOUTS, TASKS

GROUP = "clue-checks"


# (option, ini name, help, extra argparse kwargs, ini type)
OPTIONS: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("--model-endpoint", "clue_model_endpoint",
     "URL of a model server (TGI, vLLM, transformers serve, OpenAI-compatible). Repeat for replicas of one "
     "model; they share the load. Default: start the embedded parameterless baseline.",
     {"action": "append", "metavar": "URL"}, "linelist"),
    ("--clue-api", "clue_api", "chat (/v1/chat/completions), generate (TGI /generate with the chat template rendered "
     "locally and CLUE's assistant prefix; needs --clue-tokenizer) or auto (generate on TGI when a tokenizer is "
     "known, else chat). Default: auto.", {"choices": ["chat", "generate", "auto"]}, "string"),
    ("--clue-model-name", "clue_model_name", "model name to send in chat requests (default: discovered from the server)",
     {"metavar": "NAME"}, "string"),
    ("--clue-model-revision", "clue_model_revision", "a label for the exact weights served (e.g. the release tag): part "
     "of every stored response's key. Needed when the server reports no revision (vLLM, transformers serve, "
     "TGI on a local path), or stored answers of an older model under the same name would be reused",
     {"metavar": "LABEL"}, "string"),
    ("--clue-system-role", "clue_system_role", "keep: send CLUE's system prompt as a system message (default). merge: "
     "merge it into the first user turn (SYS + blank line + U1, as CLUE did for models without a system role), "
     "for a model whose chat template rejects the system role in chat mode; generate mode detects that itself",
     {"choices": ["keep", "merge"]}, "string"),
    ("--clue-tokenizer", "clue_tokenizer", "tokenizer folder or hub id whose chat template renders generate-mode "
     "prompts; it also counts LongHealth's tokens when the endpoint has no /tokenize", {"metavar": "PATH"}, "string"),
    ("--clue-data", "clue_data", "folder laid out like CLUE's data/ (default: the bundled synthetic fixtures)",
     {"metavar": "DIR"}, "string"),
    ("--clue-tasks", "clue_tasks", f"comma-separated tasks to run (default: all collected; CLUE's are {', '.join(TASKS)}, "
     "and a task file's or installed package's task is named like them)",
     {"metavar": "T1,T2"}, "string"),
    ("--clue-limit", "clue_limit", "score only the first N samples of each task (deterministic)",
     {"type": int, "metavar": "N"}, "string"),
    ("--clue-concurrency", "clue_concurrency", "the most requests in flight at once (default: the server's "
     "max_concurrent_requests, else up to 256 starting at 64); the limit starts at the server's "
     "max_concurrent_requests when lower", {"type": int, "metavar": "N"}, "string"),
    ("--clue-cache", "clue_cache", "response store folder (default: .clue-cache)", {"metavar": "DIR"}, "string"),
    ("--clue-no-cache", "clue_no_cache", "neither read nor write the response store", {"action": "store_true"}, "bool"),
    ("--clue-refresh", "clue_refresh", "ask the model again even when a stored response exists (and store the new one)",
     {"action": "store_true"}, "bool"),
    ("--clue-report-dir", "clue_report_dir", "where clue-report.json and clue-report.md are written "
     "(default: clue-report)", {"metavar": "DIR"}, "string"),
    ("--clue-thresholds", "clue_thresholds", "TOML file with per-sample floors and task gates",
     {"metavar": "FILE"}, "string"),
    ("--clue-profile", "clue_profile", "paper (CLUE's TGI-era code, the published numbers; default) or head "
     "(CLUE's 2025 vLLM-era code)", {"choices": list(PROFILES)}, "string"),
    ("--clue-exit", "clue_exit", "pytest: plain pytest exit codes (default). gates: the exit code reflects the "
     "task gates alone; failing samples still show as failed", {"choices": ["pytest", "gates"]}, "string"),
    ("--clue-bertscore-model", "clue_bertscore_model", "local BERT model folder for BERTScore instead of the task's "
     "hub model (offline sites); needs --clue-bertscore-layers", {"metavar": "PATH"}, "string"),
    ("--clue-bertscore-layers", "clue_bertscore_layers", "which layer of --clue-bertscore-model to use (CLUE: SciBERT 8, "
     "Bio_ClinicalBERT 9)", {"type": int, "metavar": "N"}, "string"),
    ("--clue-request-timeout", "clue_request_timeout", "seconds to wait for one response (default 600)",
     {"type": float, "metavar": "S"}, "string"),
    ("--clue-progress-every", "clue_progress_every", "without a terminal (CI logs), write the live progress line "
     "every S seconds (default 15); on a terminal it updates in place; -q shows none",
     {"type": float, "metavar": "S"}, "string"),
    # -- release CI: shards and synthetic data ------------------------------------------------
    ("--clue-shard", "clue_shard", "run the K-th of N deterministic parts of every task's samples (e.g. 2/4; "
     "samples that share a cluster, such as LongHealth's repeats of one question, stay together); "
     "combine the shards' report folders with `clue report merge`", {"metavar": "K/N"}, "string"),
    ("--clue-allow-synthetic", "clue_allow_synthetic", "let a run against a real --model-endpoint on the bundled "
     "synthetic fixtures PASS its gates (it never does otherwise: its scores mean nothing clinically)",
     {"action": "store_true"}, "bool"),
    # -- faithfulness on every model family, and the embedded baseline's variant ----------------------
    ("--clue-prompt-layout", "clue_prompt_layout", "how CLUE's conversation is laid out. auto (default): from the "
     "tokenizer (no chat template: base; a template rejecting the system role: template-no-system). template: "
     "the chat template with a system role. template-no-system: the system prompt merged into the first user "
     "turn, as CLUE did for instruct models without one. base: CLUE's plain base-model transcript even if the "
     "tokenizer has a chat template (generate mode only)", {"choices": list(PROMPT_LAYOUTS)}, "string"),
    ("--clue-model-family", "clue_model_family", "the model family whose CLUE quirks apply: llama3 (stop strings in "
     "generate mode), phi (answers cut at ' <|end|>' in the paper profile), llama3,phi (both, as CLUE gave a name "
     "matching both) or other. Default auto: from the model id the server reports, as CLUE did from the model "
     "name (a local path or neutral name gets neither)", {"metavar": "FAMILY"}, "string"),
    ("--clue-baseline-variant", "clue_baseline_variant", "which embedded baseline answers when no --model-endpoint is "
     "given: default, or finetune-degraded (the same heuristics failing on a fixed, documented share of samples "
     "the way biomedical fine-tunes fail; for trying comparisons offline). Also `clue serve-baseline --variant`",
     {"choices": list(BASELINE_VARIANTS)}, "string"),
    # -- a baseline for every run: the previous release or the base model -----------------------------
    ("--clue-baseline", "clue_baseline", "a previous run's report folder (its --clue-report-dir) to compare this run "
     "with, paired on sample ids; the runs' manifests must agree (see --clue-baseline-force)",
     {"metavar": "DIR"}, "string"),
    ("--clue-baseline-endpoint", "clue_baseline_endpoint", "URL of the baseline model's server (repeat for replicas): "
     "it answers the same prompts in the same session, its requests concurrent with the model's, each sent once "
     "and stored; this run is compared with it", {"action": "append", "metavar": "URL"}, "linelist"),
    ("--clue-baseline-force", "clue_baseline_force", "compare with the baseline even when the runs' manifests "
     "differ (the report is marked as forced)", {"action": "store_true"}, "bool"),
    ("--clue-select", "clue_select", "rerun only the samples that broke (the baseline right, this model wrong) or "
     "were fixed, as listed by the comparison in --clue-report-dir's clue-report.json; answers come from the store. "
     "The run is written to that folder's selection/ folder: the report of record stays as it is",
     {"choices": ["broke", "fixed"]}, "string"),
    # -- triage ---------------------------------------------------------------------------------
    ("--clue-kind", "clue_kind", "run only the samples whose last outcome (the prediction files in --clue-report-dir) "
     "has one of these failure kinds, e.g. repetition_loop,truncated; they are answered from the response store, "
     "so no request is sent; the run is written to that folder's selection/ folder, the report of record stays as it "
     "is. The kinds are listed in the README ('Failure kinds')", {"metavar": "K1,K2"}, "string"),
    ("--clue-redact", "clue_redact", "replace clinical text (prompts, responses, references, parsed answers, codes "
     "quoted in reasons) by a hash and its length in every artefact: prediction files, index.html, JUnit XML and "
     "the failure messages; the response store keeps the text. pytest's --debug is refused with it (its trace "
     "can hold process memory)", {"action": "store_true"}, "bool"),
    ("--clue-allow-host", "clue_allow_host", "a host that may receive the credentialed (MIMIC-derived) tasks "
     "although it is neither this machine nor on a private network; repeat for several. Listing it attests that "
     "the data use agreement allows it: run by you or your institution, or verified zero data retention, no "
     "training use and no human review. Recorded in the report's manifest",
     {"action": "append", "metavar": "HOST"}, "linelist"),
]


# The options once spelled without the `clue-` prefix, written without their dashes: `--NAME` is now
# `--clue-NAME`. An old spelling is refused with that hint only when no plugin claims it, so another
# plugin's option of the same name keeps working (the old names are never registered).
UNPREFIXED_BEFORE = ("api", "model-name", "model-revision", "system-role", "tokenizer", "tasks", "limit",
                     "concurrency", "cache", "no-cache", "refresh", "report-dir", "thresholds", "bertscore-model",
                     "bertscore-layers", "request-timeout", "prompt-layout", "model-family", "baseline-variant",
                     "baseline-endpoint")


def refuse_unprefixed(parser: pytest.Parser, args: list[str]) -> None:
    """A usage error naming the new spelling for each old one on the command line that nobody claims."""
    _, unknown = parser.parse_known_and_unknown_args(args)
    old = [flag for flag in (arg.split("=", 1)[0] for arg in unknown)
           if flag.startswith("--") and flag[2:] in UNPREFIXED_BEFORE]
    if old:
        hints = "; ".join(f"{flag} is now --clue-{flag[2:]}" for flag in dict.fromkeys(old))
        raise pytest.UsageError(f"{hints} (clue-checks options are spelled --clue-...; ini keys are unchanged)")


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "clue-checks: CLUE clinical benchmark against a model endpoint")
    for flag, ini, help_text, kwargs, ini_type in OPTIONS:
        group.addoption(flag, dest=ini, default=None, help=help_text, **kwargs)
        parser.addini(ini, f"default for {flag}", type=ini_type, default=None)



def option_names() -> tuple[str, ...]:
    """The ini/dest names of every clue-checks option."""
    return tuple(ini for _, ini, _, _, _ in OPTIONS)
