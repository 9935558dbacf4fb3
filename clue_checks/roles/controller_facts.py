"""The controller's plain facts of a run for the report builder (report/build.py's `RunFacts`), secrets masked
(records are masked as they arrive): the run section, the manifest, the tasks' specs."""

from __future__ import annotations

import datetime as _dt
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

from clue_checks.data.missing import missing_tasks
from clue_checks.report.build import RunFacts
from clue_checks.report.manifest import build_manifest, strip_option
from clue_checks.report.numbers.aggregate import TaskSpec
from clue_checks.report.numbers.stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from clue_checks.tasks.longhealth import LONGHEALTH_SEED
from clue_checks.cleaner import Cleaner
from clue_checks.record import RunDescription, SampleRecord
from clue_checks.roles.inputs import RunOptions
from clue_checks.run_setup import ClueSetup
from clue_checks.run_data import RunData
from clue_checks.tasks.shots import SHOT_SEED


class Controller(Protocol):
    """What the facts are read from (roles/controller.py's `Controller`)."""

    setup: ClueSetup
    options: RunOptions
    description: RunDescription | None
    selected: Counter[str]
    records: Sequence[SampleRecord]
    started: float
    started_at: _dt.datetime

    @property
    def run(self) -> RunData: ...

    @property
    def clean(self) -> Cleaner: ...

    def request_counts(self) -> dict[str, int]: ...

    def request_stats(self) -> dict[str, Any] | None: ...


def run_facts(ctl: Controller) -> RunFacts:
    assert ctl.description is not None
    server_kind = ctl.description.describe.get("server_kind")
    specs = tuple(task_specs(ctl))
    clean = ctl.clean
    return RunFacts(
        run=clean.scrub(run_section(ctl)), manifest=clean.scrub(manifest(ctl, specs)), specs=specs,
        gates=ctl.setup.thresholds.gates, compare_gates=ctl.setup.thresholds.compare,
        not_selected=_not_selected(ctl), deferred=_deferred(ctl),
        pass_blockers=ctl.setup.pass_blockers(server_kind),
        warnings=tuple(clean.lines(ctl.setup.warnings(server_kind) + tuple(ctl.description.warnings))),
        requests=ctl.request_counts(), request_stats=clean.scrub(ctl.request_stats()),
        duration_s=time.time() - ctl.started, not_run=not_run(ctl))


def task_specs(ctl: Controller) -> list[TaskSpec]:
    return [TaskSpec(name, task.title, task.level, tuple(task.metric_names), tuple(task.batched_metrics),
                     n_selected=ctl.selected.get(name) or None, n_total=_task_size(ctl, name),
                     kinds=task.failure_kinds)
            for name, task in ctl.run.tasks.items()]


def _task_size(ctl: Controller, name: str) -> int | None:
    """How many scored samples the task has (the controller under xdist reads the data just for this)."""
    if not ctl.selected.get(name) and not any(r.task == name for r in ctl.records):
        return None
    try:
        return len(ctl.run.load(name).samples)
    except Exception:
        return None


def _not_selected(ctl: Controller) -> tuple[str, ...]:
    settings = ctl.setup.settings
    return tuple(t for t in ctl.run.tasks if t not in settings.tasks) if settings.tasks_explicit else ()


def not_run(ctl: Controller) -> dict[str, str]:
    """Selected tasks whose data file is absent under --clue-data: task -> one line (file, fix)."""
    settings = ctl.setup.settings
    paths = {name: task.data_path for name, task in ctl.run.tasks.items()}
    return missing_tasks(paths, settings.tasks, settings.data_dir)


def _deferred(ctl: Controller) -> str | None:
    shard = ctl.setup.settings.shard
    if shard is None:
        return None
    return (f"shard {shard[0]}/{shard[1]}: gates are decided over all shards by "
            "`clue report merge OUT SHARD_DIR...`")


def run_section(ctl: Controller) -> dict[str, Any]:
    settings = ctl.setup.settings
    assert ctl.description is not None
    section = dict(ctl.description.describe)
    section.update({
        "data_dir": str(settings.data_dir),
        "synthetic_data": ctl.setup.synthetic_data,
        "allow_synthetic": settings.allow_synthetic,
        "tasks": list(settings.tasks) if settings.tasks_explicit else None,
        "shard": f"{settings.shard[0]}/{settings.shard[1]}" if settings.shard else None,
        "thresholds": ctl.setup.thresholds.source,
        "limit": settings.limit,
        "bertscore_override": ({"model": settings.bertscore_model, "layers": settings.bertscore_layers}
                               if settings.bertscore_model else None),
        "seeds": {"shots": SHOT_SEED, "longhealth": LONGHEALTH_SEED, "bootstrap": BOOTSTRAP_SEED,
                  "bootstrap_resamples": BOOTSTRAP_RESAMPLES},
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "redacted": settings.redact,
        "kinds_selected": list(settings.kinds) or None,
    })
    return section


def manifest(ctl: Controller, specs: tuple[TaskSpec, ...]) -> dict[str, Any]:
    run = ctl.run
    settings = ctl.setup.settings
    ran = _ran(ctl, specs)
    files = []
    for task in ran:
        try:
            files.extend(run.load(task).sources)
        except Exception:
            continue
    description = ctl.description
    assert description is not None
    command = ["pytest", *strip_option(list(ctl.options.invocation_args), "--clue-shard")]
    return build_manifest(
        data_dir=settings.data_dir, data_files=files, chat_template=description.chat_template,
        chat_template_note=description.chat_template_note,
        generation={t: p for t, p in sorted(description.generation.items()) if t in ran},
        thresholds_source=ctl.setup.thresholds.source, thresholds_text=ctl.setup.thresholds_text,
        endpoint_info=description.endpoint_info,
        started=ctl.started_at.isoformat(timespec="seconds"), duration_s=time.time() - ctl.started,
        command=command, egress=run.egress_manifest())


def _ran(ctl: Controller, specs: tuple[TaskSpec, ...]) -> list[str]:
    """The tasks the report has (aggregate's rule: records, or samples selected), in report order."""
    reported = {r.task for r in ctl.records}
    return [s.name for s in specs if s.name in reported or s.n_selected]
