"""One resolved, immutable run configuration: command line > pytest.ini > defaults."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from clue_checks.data.bundled import bundled_fixtures_dir
from clue_checks.progress import CI_INTERVAL_S

GROUP = "clue-checks"

# The task and profile names, written out so that loading the plugin imports no task code (it is
# loaded into every pytest session of the environment). tests/roles/test_settings.py checks them against
# clue_checks.tasks.TASKS and clue_checks.tasks.profiles.PROFILES.
TASKS = ("mednli", "meqsum", "problemsummary", "longhealth-t1", "longhealth-t2", "longhealth-t3", "medisumqa",
         "medisumcode")
PROFILES = ("paper", "head")
TASK_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,47}$")  # a user's task: tasks.taskfile.NAME
PROMPT_LAYOUTS = ("auto", "template", "template-no-system", "base")  # rendering.PROMPT_LAYOUTS
BASELINE_VARIANTS = ("default", "finetune-degraded")  # server.variants.VARIANTS

# (option, ini name, help, extra argparse kwargs, ini type)
_OPTIONS: list[tuple[str, str, str, dict[str, Any], str]] = [
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
    ("--clue-concurrency", "clue_concurrency", "requests in flight at once (default: the server's "
     "max_concurrent_requests, else 64)", {"type": int, "metavar": "N"}, "string"),
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
     "the failure messages; the response store keeps the text", {"action": "store_true"}, "bool"),
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
    for flag, ini, help_text, kwargs, ini_type in _OPTIONS:
        group.addoption(flag, dest=ini, default=None, help=help_text, **kwargs)
        parser.addini(ini, f"default for {flag}", type=ini_type, default=None)


@dataclass(frozen=True)
class Settings:
    endpoints: tuple[str, ...]  #: model server URLs (replicas of one model); empty: the embedded baseline
    api: str  #: "chat", "generate" or "auto"
    model_name: str | None  #: the `model` sent in chat requests (None: discovered)
    tokenizer: str | None  #: tokenizer folder or hub id for generate mode and token counts
    data_dir: Path  #: folder laid out like CLUE's data/
    tasks: tuple[str, ...]  #: the tasks to run, in report order
    limit: int | None  #: score only the first N samples of each task
    concurrency: int | None  #: requests in flight (None: the server's own limit)
    cache_dir: Path | None  #: the response store folder (None: no store)
    refresh: bool  #: ask again even when a stored answer exists
    report_dir: Path  #: where the reports are written
    thresholds: Path | None  #: the thresholds file (None: the built-in one)
    profile: str  #: "paper" or "head"
    exit_mode: str  #: "pytest" or "gates"
    request_timeout: float  #: seconds for one response
    api_key: str | None = field(repr=False)  #: from the environment only (endpoint/keys.py), never an option
    bertscore_model: str | None = None  #: a local BERT folder instead of the task's hub model
    bertscore_layers: int | None = None  #: its layer
    model_revision: str | None = None  #: a label for the exact weights, part of every stored answer's key
    system_role: str = "keep"  #: "keep" or "merge"
    tasks_explicit: bool = False  #: --clue-tasks / clue_tasks was given: gates of other tasks are "not selected"
    shard: tuple[int, int] | None = None  #: (K, N), 1 <= K <= N: run the K-th of N parts of every task
    allow_synthetic: bool = False  #: a real endpoint on the synthetic fixtures may PASS its gates
    on_command_line: bool = False  #: a clue-checks option was given on the command line (checks run at start)
    prompt_layout: str = "auto"  #: auto | template | template-no-system | base
    model_family: str = "auto"  #: auto | llama3 | phi | other (CLUE's quirks keyed on the model)
    baseline_variant: str = "default"  #: the embedded baseline's variant (default | finetune-degraded)
    baseline_dir: Path | None = None  #: a previous run's report folder to compare with (--clue-baseline)
    baseline_endpoints: tuple[str, ...] = ()  #: the baseline model's server URLs, run in this session
    baseline_force: bool = False  #: compare although the manifests differ (the report says so)
    select: str | None = None  #: "broke" or "fixed": rerun only those samples of the last comparison
    kinds: tuple[str, ...] = ()  #: --clue-kind: run only samples whose last outcome has one of these kinds
    redact: bool = False  #: --clue-redact: clinical text hashed in every artefact except the store
    progress_every: float = CI_INTERVAL_S  #: seconds between plain progress lines without a terminal
    api_key_source: str | None = None  #: the environment variable the key came from (never the key)
    selected_from: Path | None = None  #: --clue-select/--clue-kind: the report of record read (report_dir is
    #: then its selection/ folder, so the partial run never replaces it)
    allow_hosts: tuple[str, ...] = ()  #: --clue-allow-host: hosts attested to may receive credentialed tasks

    def selects(self, task: str) -> bool:
        """The task runs: named by --clue-tasks, or --clue-tasks not given (every collected task runs)."""
        return task in self.tasks or not self.tasks_explicit


def option_names() -> tuple[str, ...]:
    """The ini/dest names of every clue-checks option."""
    return tuple(ini for _, ini, _, _, _ in _OPTIONS)


def _given_on_command_line(config: pytest.Config) -> bool:
    return any(_set(config.getoption(name)) for name in option_names())


def requested(config: pytest.Config) -> bool:
    """The session asks for CLUE by configuration: a clue-checks option or a `clue_*` ini key.

    Cheap (no task code is imported): the plugin calls it in every pytest session of the environment.
    """
    return _given_on_command_line(config) or any(_set(_ini(config, name)) for name in option_names())


def _set(value: Any) -> bool:
    return value is not None and value is not False and value != [] and value != ""


def _ini(config: pytest.Config, name: str) -> Any:
    try:
        return config.getini(name)
    except ValueError:  # not registered (the options were added by another copy of the plugin)
        return None


def _value(config: pytest.Config, name: str) -> tuple[Any, str]:
    """(value, where) — where is "cli", "ini" or "default"."""
    cli = config.getoption(name)
    if cli is not None and cli is not False and cli != []:  # not `in (None, False, [])`: 0 == False
        return cli, "cli"
    ini = _ini(config, name)
    if ini not in (None, "", []):
        return ini, "ini"
    return None, "default"


def _path(config: pytest.Config, name: str, default: str | None) -> Path | None:
    value, where = _value(config, name)
    if value is None:
        if default is None:
            return None
        value, where = default, "ini"
    path = Path(os.path.expanduser(str(value)))
    if not path.is_absolute():
        base = Path(config.invocation_params.dir) if where == "cli" else Path(config.rootpath)
        path = base / path
    return path


def _int(config: pytest.Config, name: str, flag: str) -> int | None:
    value, where = _value(config, name)
    if value is None:
        return None
    label = flag if where == "cli" else f"{name} (ini file)"
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"{label} must be a whole number, got {value!r}") from None
    if number < 1:
        raise pytest.UsageError(f"{label} must be at least 1, got {number}")
    return number



def _positive_seconds(config: pytest.Config, key: str, option: str, default: float) -> float:
    """A duration option or ini value: a number of seconds above 0 (NaN refused too)."""
    raw, _ = _value(config, key)
    try:
        seconds = float(raw) if raw is not None else default
    except ValueError:
        raise pytest.UsageError(f"{option} must be a number of seconds, got {raw!r}") from None
    if not seconds > 0:
        raise pytest.UsageError(f"{option} must be more than 0 seconds, got {raw!r}")
    return seconds


def resolve(config: pytest.Config) -> Settings:
    endpoints, _ = _value(config, "clue_model_endpoint")
    urls = tuple(u.strip().rstrip("/") for u in (endpoints or []) if u.strip())
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise pytest.UsageError(f"--model-endpoint {url!r} must be an http:// or https:// URL")

    tasks_value, tasks_where = _value(config, "clue_tasks")
    tasks = tuple(TASKS) if not tasks_value else tuple(t.strip() for t in str(tasks_value).split(",") if t.strip())
    # Users' tasks are known once their packages and task files are read (roles/setup.py, the collection).
    unknown = [t for t in tasks if t not in TASKS and not TASK_NAME.match(t)]
    if unknown:
        raise pytest.UsageError(f"--clue-tasks: unknown task(s) {', '.join(unknown)}; available: {', '.join(TASKS)}")

    no_cache, _ = _value(config, "clue_no_cache")
    refresh, _ = _value(config, "clue_refresh")
    request_timeout = _positive_seconds(  # 0 or less would fail every request as a server fault
        config, "clue_request_timeout", "--clue-request-timeout", 600.0)
    progress_every = _positive_seconds(config, "clue_progress_every", "--clue-progress-every", CI_INTERVAL_S)

    thresholds = _path(config, "clue_thresholds", None)
    if thresholds is not None and not thresholds.is_file():
        raise pytest.UsageError(f"--clue-thresholds: file not found: {thresholds}")

    bertscore_model = _path(config, "clue_bertscore_model", None)
    bertscore_layers = _int(config, "clue_bertscore_layers", "--clue-bertscore-layers")
    if bertscore_model is not None and bertscore_layers is None:
        raise pytest.UsageError("--clue-bertscore-model needs --clue-bertscore-layers (the layer whose embeddings BERTScore uses)")
    for flag, name, value, allowed in (("--clue-api", "clue_api", _value(config, "clue_api")[0], ("chat", "generate", "auto")),
                                       ("--clue-profile", "clue_profile", _value(config, "clue_profile")[0], PROFILES),
                                       ("--clue-exit", "clue_exit", _value(config, "clue_exit")[0], ("pytest", "gates")),
                                       ("--clue-system-role", "clue_system_role", _value(config, "clue_system_role")[0],
                                        ("keep", "merge")),
                                       ("--clue-prompt-layout", "clue_prompt_layout", _value(config, "clue_prompt_layout")[0],
                                        PROMPT_LAYOUTS),
                                       ("--clue-baseline-variant", "clue_baseline_variant",
                                        _value(config, "clue_baseline_variant")[0], BASELINE_VARIANTS)):
        if value is not None and value not in allowed:
            raise pytest.UsageError(f"{flag} / {name}: {value!r} is not one of {', '.join(allowed)}")
    family_setting = _value(config, "clue_model_family")[0]
    if family_setting is not None and family_setting != "auto":
        from clue_checks.tasks.families import parse_families

        try:
            parse_families(family_setting)
        except ValueError as exc:
            raise pytest.UsageError(f"--clue-model-family / clue_model_family: {exc}") from None
    system_role = _value(config, "clue_system_role")[0] or "keep"
    prompt_layout = _value(config, "clue_prompt_layout")[0] or "auto"
    baseline_variant = _value(config, "clue_baseline_variant")[0] or "default"
    if baseline_variant != "default" and urls:
        raise pytest.UsageError(f"--clue-baseline-variant {baseline_variant} chooses the embedded baseline, which does not "
                                "run with --model-endpoint; serve it with `clue serve-baseline --variant "
                                f"{baseline_variant}` and name that URL, or leave out --model-endpoint")
    if system_role == "merge" and prompt_layout in ("template", "base"):
        raise pytest.UsageError(f"--clue-system-role merge contradicts --clue-prompt-layout {prompt_layout}: "
                                "--clue-prompt-layout template-no-system is the merged layout")


    from clue_checks.endpoint.keys import api_key_from_env

    api = _value(config, "clue_api")[0] or "auto"
    api_key, api_key_source = api_key_from_env(os.environ, api=api, urls=urls)
    report_dir = _path(config, "clue_report_dir", "clue-report")
    kinds = parse_kinds(_value(config, "clue_kind"), cache_off=bool(no_cache), refresh=bool(refresh))
    baseline = _baseline_settings(config, urls)
    selected_from = report_dir if (kinds or baseline["select"]) else None
    if selected_from is not None:
        from clue_checks.report.files import SELECTION

        report_dir = selected_from / SELECTION  # type: ignore[operator]
    return Settings(
        endpoints=urls,
        api=api,
        model_name=_value(config, "clue_model_name")[0],
        model_revision=_value(config, "clue_model_revision")[0],
        tokenizer=_value(config, "clue_tokenizer")[0],
        data_dir=_path(config, "clue_data", None) or bundled_fixtures_dir(),
        tasks=tasks,
        limit=_int(config, "clue_limit", "--clue-limit"),
        concurrency=_int(config, "clue_concurrency", "--clue-concurrency"),
        cache_dir=None if no_cache else _path(config, "clue_cache", ".clue-cache"),
        refresh=bool(refresh),
        report_dir=report_dir,  # type: ignore[arg-type]
        selected_from=selected_from,
        thresholds=thresholds,
        profile=_value(config, "clue_profile")[0] or "paper",
        exit_mode=_value(config, "clue_exit")[0] or "pytest",
        request_timeout=request_timeout,
        # Read from the environment only, so a key never lands in shell history or CI logs.
        api_key=api_key,
        api_key_source=api_key_source,
        bertscore_model=str(bertscore_model) if bertscore_model else None,
        bertscore_layers=bertscore_layers,
        system_role=system_role,
        prompt_layout=prompt_layout,
        model_family=_value(config, "clue_model_family")[0] or "auto",
        baseline_variant=baseline_variant,
        tasks_explicit=tasks_where != "default",
        shard=parse_shard(_value(config, "clue_shard")),
        allow_synthetic=bool(_value(config, "clue_allow_synthetic")[0]),
        on_command_line=_given_on_command_line(config),
        kinds=kinds,
        redact=bool(_value(config, "clue_redact")[0]),
        progress_every=progress_every,
        allow_hosts=tuple(h.strip() for h in (_value(config, "clue_allow_host")[0] or []) if h.strip()),
        **baseline,
    )


def _baseline_settings(config: pytest.Config, urls: tuple[str, ...]) -> dict[str, Any]:
    """--clue-baseline, --clue-baseline-endpoint, --clue-baseline-force and --clue-select, checked."""
    baseline_dir = _path(config, "clue_baseline", None)
    endpoints, _ = _value(config, "clue_baseline_endpoint")
    base_urls = tuple(u.strip().rstrip("/") for u in (endpoints or []) if u.strip())
    for url in base_urls:
        if not url.startswith(("http://", "https://")):
            raise pytest.UsageError(f"--clue-baseline-endpoint {url!r} must be an http:// or https:// URL")
    if baseline_dir is not None and base_urls:
        raise pytest.UsageError("--clue-baseline and --clue-baseline-endpoint both name a baseline: give one")
    if baseline_dir is not None and not (baseline_dir / "clue-report.json").is_file():
        raise pytest.UsageError(f"--clue-baseline: {baseline_dir / 'clue-report.json'} not found; name a previous "
                                "run's report folder (its --clue-report-dir)")
    report_dir = _path(config, "clue_report_dir", "clue-report")
    if baseline_dir is not None and report_dir is not None and baseline_dir.resolve() == report_dir.resolve():
        raise pytest.UsageError(f"--clue-baseline {baseline_dir} is this run's --clue-report-dir: the run would replace the "
                                "report it compares with; write this run elsewhere (--clue-report-dir=DIR)")
    if set(base_urls) & set(urls):
        raise pytest.UsageError("--clue-baseline-endpoint names the same server as --model-endpoint: the model would be "
                                "compared with itself")
    select = _value(config, "clue_select")[0]
    if select is not None and select not in ("broke", "fixed"):
        raise pytest.UsageError(f"--clue-select / clue_select: {select!r} is not one of broke, fixed")
    return {"baseline_dir": baseline_dir, "baseline_endpoints": base_urls,
            "baseline_force": bool(_value(config, "clue_baseline_force")[0]), "select": select}


def parse_kinds(value_where: tuple[Any, str], *, cache_off: bool, refresh: bool) -> tuple[str, ...]:
    """`--clue-kind=a,b` -> ("a", "b"), each a failure kind of the table; a usage error lists them."""
    value, where = value_where
    if value is None:
        return ()
    from clue_checks.triage.kinds import KIND_NAMES  # the table alone: no detector, no metric is imported

    label = "--clue-kind" if where == "cli" else "clue_kind (ini file)"
    kinds = tuple(dict.fromkeys(k.strip() for k in str(value).split(",") if k.strip()))
    unknown = [k for k in kinds if k not in KIND_NAMES]
    if unknown or not kinds:
        raise pytest.UsageError(f"{label}: unknown failure kind(s) {', '.join(unknown) or repr(value)}; "
                                f"kinds: {', '.join(KIND_NAMES)}")
    if cache_off or refresh:
        raise pytest.UsageError(f"{label} reruns samples from the response store, which "
                                f"{'--clue-no-cache turns off' if cache_off else '--clue-refresh bypasses'}; leave it out")
    return kinds


def parse_shard(value_where: tuple[Any, str]) -> tuple[int, int] | None:
    """`K/N` -> (K, N) with 1 <= K <= N; a usage error names the option or ini key."""
    value, where = value_where
    if value is None:
        return None
    label = "--clue-shard" if where == "cli" else "clue_shard (ini file)"
    parts = str(value).strip().split("/")
    try:
        k, n = (int(p) for p in parts)
    except ValueError:
        raise pytest.UsageError(f"{label} must look like K/N (e.g. 2/4: the second of four shards), "
                                f"got {value!r}") from None
    if not 1 <= k <= n:
        raise pytest.UsageError(f"{label}: K/N needs 1 <= K <= N, got {value!r}")
    return k, n
