"""One resolved, immutable run configuration: command line > pytest.ini > defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from clue_checks.data.bundled import bundled_fixtures_dir
from clue_checks.endpoint.keys import api_key_from_env
# The names come from clue_checks.names, so that loading the plugin imports no task code.
from clue_checks.names import BASELINE_VARIANTS, PROFILES, PROMPT_LAYOUTS, TASK_NAME, TASKS
from clue_checks.options import option_names  # the option table (options.py registers it with pytest)
from clue_checks.progress_line import CI_INTERVAL_S


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
    # Checked in this order, so that of several mistakes the first is reported.
    urls = _urls(config, "clue_model_endpoint", "--model-endpoint")
    tasks_value, tasks_where = _value(config, "clue_tasks")
    tasks = _tasks(tasks_value)
    no_cache, _ = _value(config, "clue_no_cache")
    refresh, _ = _value(config, "clue_refresh")
    request_timeout = _positive_seconds(  # 0 or less would fail every request as a server fault
        config, "clue_request_timeout", "--clue-request-timeout", 600.0)
    progress_every = _positive_seconds(config, "clue_progress_every", "--clue-progress-every", CI_INTERVAL_S)
    scoring = _scoring_settings(config)
    _check_choices(config)
    prompt = _prompt_settings(config, urls)
    api = _value(config, "clue_api")[0] or "auto"
    # Read from the environment only, so a key never lands in shell history or CI logs.
    api_key, api_key_source = api_key_from_env(os.environ, api=api, urls=urls)
    report = _report_settings(config, urls, cache_off=bool(no_cache), refresh=bool(refresh))
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
        profile=_value(config, "clue_profile")[0] or "paper",
        exit_mode=_value(config, "clue_exit")[0] or "pytest",
        request_timeout=request_timeout,
        api_key=api_key,
        api_key_source=api_key_source,
        tasks_explicit=tasks_where != "default",
        shard=parse_shard(_value(config, "clue_shard")),
        allow_synthetic=bool(_value(config, "clue_allow_synthetic")[0]),
        on_command_line=_given_on_command_line(config),
        redact=bool(_value(config, "clue_redact")[0]),
        progress_every=progress_every,
        allow_hosts=tuple(h.strip() for h in (_value(config, "clue_allow_host")[0] or []) if h.strip()),
        **scoring,
        **prompt,
        **report,
    )


def _urls(config: pytest.Config, name: str, flag: str) -> tuple[str, ...]:
    values, _ = _value(config, name)
    urls = tuple(u.strip().rstrip("/") for u in (values or []) if u.strip())
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise pytest.UsageError(f"{flag} {url!r} must be an http:// or https:// URL")
    return urls


def _tasks(value: Any) -> tuple[str, ...]:
    tasks = tuple(TASKS) if not value else tuple(t.strip() for t in str(value).split(",") if t.strip())
    # Users' tasks are known once their packages and task files are read (run_setup.py, the collection).
    unknown = [t for t in tasks if t not in TASKS and not TASK_NAME.match(t)]
    if unknown:
        raise pytest.UsageError(f"--clue-tasks: unknown task(s) {', '.join(unknown)}; available: {', '.join(TASKS)}")
    return tasks


def _scoring_settings(config: pytest.Config) -> dict[str, Any]:
    """--clue-thresholds, --clue-bertscore-model and --clue-bertscore-layers, checked."""
    thresholds = _path(config, "clue_thresholds", None)
    if thresholds is not None and not thresholds.is_file():
        raise pytest.UsageError(f"--clue-thresholds: file not found: {thresholds}")
    bertscore_model = _path(config, "clue_bertscore_model", None)
    bertscore_layers = _int(config, "clue_bertscore_layers", "--clue-bertscore-layers")
    if bertscore_model is not None and bertscore_layers is None:
        raise pytest.UsageError("--clue-bertscore-model needs --clue-bertscore-layers (the layer whose embeddings BERTScore uses)")
    return {"thresholds": thresholds, "bertscore_model": str(bertscore_model) if bertscore_model else None,
            "bertscore_layers": bertscore_layers}


def _check_choices(config: pytest.Config) -> None:
    """An option with a fixed set of values, given in the ini file (argparse checks the command line)."""
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


def _prompt_settings(config: pytest.Config, urls: tuple[str, ...]) -> dict[str, Any]:
    """--clue-system-role, --clue-prompt-layout, --clue-model-family and --clue-baseline-variant, checked."""
    family_setting = _value(config, "clue_model_family")[0]
    if family_setting is not None and family_setting != "auto":
        # Lazy: importing clue_checks.tasks loads every task module, which the plugin must not at start-up.
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
    return {"system_role": system_role, "prompt_layout": prompt_layout, "baseline_variant": baseline_variant,
            "model_family": family_setting or "auto"}


def _report_settings(config: pytest.Config, urls: tuple[str, ...], *, cache_off: bool, refresh: bool) -> dict[str, Any]:
    """Where the report goes: --clue-report-dir, or its selection/ folder when --clue-kind or --clue-select
    reruns part of the report of record; with the baseline options, checked."""
    report_dir = _path(config, "clue_report_dir", "clue-report")
    kinds = parse_kinds(_value(config, "clue_kind"), cache_off=cache_off, refresh=refresh)
    baseline = _baseline_settings(config, urls)
    selected_from = report_dir if (kinds or baseline["select"]) else None
    if selected_from is not None:
        # Imported here: a session that does not ask for CLUE loads nothing of report/ (tests/roles/test_opt_in.py).
        from clue_checks.report.files import SELECTION

        report_dir = selected_from / SELECTION  # type: ignore[operator]
    return {"report_dir": report_dir, "selected_from": selected_from, "kinds": kinds, **baseline}


def _baseline_settings(config: pytest.Config, urls: tuple[str, ...]) -> dict[str, Any]:
    """--clue-baseline, --clue-baseline-endpoint, --clue-baseline-force and --clue-select, checked."""
    baseline_dir = _path(config, "clue_baseline", None)
    base_urls = _urls(config, "clue_baseline_endpoint", "--clue-baseline-endpoint")
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
    # Lazy: importing clue_checks.triage loads its detectors and metrics, which the plugin must not at start-up.
    from clue_checks.triage.kinds import KIND_NAMES

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
