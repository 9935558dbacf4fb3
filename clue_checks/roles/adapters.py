"""The pytest side of the roles: read the configuration, build the role of this process's mode from plain
values, register it; and the collection's and the workers' start's plugin work that needs a resolved setup.

plugin.py imports this module only in a session that asks for CLUE.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from clue_checks.report.folder_lock import hold
from clue_checks.roles.controller import Controller
from clue_checks.roles.debug_trace import refuse_debug_trace
from clue_checks.roles.first_run import PYTEST_DEFAULT_REPORTCHARS
from clue_checks.roles.gc_tuning import freeze_heap_at_exit, tune_for_run
from clue_checks.roles.items import is_sample, sample_param, sample_param_of, task_of
from clue_checks.roles.junit_file import register as register_junit
from clue_checks.roles.kind_selection import WORKER_KEY as KINDS_KEY
from clue_checks.roles.kind_selection import split_items
from clue_checks.roles.log_capture import LogCaptureSitsOut
from clue_checks.roles.mode import Mode
from clue_checks.roles.inputs import ProcessLinks, RunOptions, WorkerPlace
from clue_checks.roles.private_records import FOLDER_KEY as RECORDS_KEY
from clue_checks.roles.private_records import channel, open_for_workers
from clue_checks.roles.progress import ControllerProgress, SessionProgress
from clue_checks.roles.reruns import exempt_from_reruns
from clue_checks.roles.select import WORKER_KEY as SELECT_KEY
from clue_checks.roles.select import select_items, wanted
from clue_checks.roles.stops import EXIT_UNAVAILABLE
from clue_checks.roles.worker_counts import FOLDER_KEY as COUNTS_KEY
from clue_checks.roles.worker_counts import folder_for_workers, read_counts
from clue_checks.roles.xdist_controller import TaskFilesFromWorkers, XdistController
from clue_checks.run_setup import ClueSetup, unknown_tasks

if TYPE_CHECKING:
    from clue_checks.roles.session import SampleSession

PROGRESS_PLUGIN = "clue-checks-progress"
TASK_FILES_PLUGIN = "clue-checks-task-files"
LOG_CAPTURE_PLUGIN = "clue-checks-log-capture"


@dataclass
class Roles:
    """This process's roles: the sample session and the controller (one of them is None under xdist), and the
    plugins beside them, to register after them."""

    session: SampleSession | None
    controller: Controller | None
    helpers: list[tuple[object, str]] = field(default_factory=list)


def run_options(config: pytest.Config) -> RunOptions:
    return RunOptions(collect_only=bool(config.option.collectonly),
                      continue_on_collection_errors=bool(config.option.continue_on_collection_errors),
                      tbstyle=config.option.tbstyle, verbosity=config.get_verbosity(),
                      reportchars=getattr(config.option, "reportchars", PYTEST_DEFAULT_REPORTCHARS),
                      invocation_args=tuple(str(a) for a in config.invocation_params.args))


def process_links(config: pytest.Config) -> ProcessLinks:
    return ProcessLinks(add_cleanup=config.add_cleanup, private_records=lambda: channel(config))


def worker_place(workerinput: dict[str, Any]) -> WorkerPlace:
    folder = workerinput.get(COUNTS_KEY)
    return WorkerPlace(str(workerinput["workerid"]), int(workerinput["workercount"]),
                       uses_share=bool(workerinput.get("clue_share")), counts_folder=Path(folder) if folder else None)


def build_roles(config: pytest.Config, setup: ClueSetup, mode: Mode) -> Roles:
    """The roles of this process's mode, built from plain values read here."""
    options, links = run_options(config), process_links(config)
    # pytest's log capture sits out the sample tests where nothing reads it (log_capture.py).
    sits_out = (LogCaptureSitsOut(config, is_sample), LOG_CAPTURE_PLUGIN)
    if mode is Mode.XDIST_WORKER:
        return Roles(_worker(config, setup, options, links), None, [sits_out])
    refuse_debug_trace(config, setup.settings.redact)  # before any worker starts or any text is read
    controller_kwargs = {"junit_additions": register_junit(config),  # None without --junitxml
                         "hold_report_folder": lambda: hold(config, setup.settings.report_dir, EXIT_UNAVAILABLE)}
    if mode is Mode.XDIST_CONTROLLER:
        controller = XdistController(setup, options, links, last_counts=lambda worker: read_counts(config, worker),
                                     **controller_kwargs)
        return Roles(None, controller, [
            # The live line over all workers (a single process draws its own).
            (ControllerProgress(config, every=setup.settings.progress_every), PROGRESS_PLUGIN),
            # Workers name the task files they read (the controller reads none).
            (TaskFilesFromWorkers(setup), TASK_FILES_PLUGIN)])
    return _single_process(config, setup, options, links, controller_kwargs, sits_out)


def _single_process(config: pytest.Config, setup: ClueSetup, options: RunOptions, links: ProcessLinks,
                    controller_kwargs: dict[str, Any], sits_out: tuple[object, str]) -> Roles:
    # The sample side (the client, the scheduler, the tasks' tokenizers): imported by the processes that
    # send requests only, never by the xdist controller.
    from clue_checks.roles.single_process import LocalSession, SingleProcessController

    every = setup.settings.progress_every
    session = LocalSession(setup, options, links,
                           live_line=lambda total, counters: SessionProgress(config, total, counters, every=every))
    return Roles(session, SingleProcessController(setup, session, options, links, **controller_kwargs), [sits_out])


def _worker(config: pytest.Config, setup: ClueSetup, options: RunOptions, links: ProcessLinks) -> SampleSession:
    from clue_checks.roles.xdist_worker import WorkerSession  # imports pytest-xdist, an optional dependency

    workerinput = config.workerinput  # type: ignore[attr-defined]
    return WorkerSession(setup, worker_place(workerinput), config.workeroutput,  # type: ignore[attr-defined]
                         options, links)


def prepare_process(config: pytest.Config) -> None:
    """What every process of a CLUE run sets before its first request: the garbage collector (gc_tuning.py),
    the environment of the libraries it loads, the warnings it silences."""
    config.add_cleanup(tune_for_run())
    freeze_heap_at_exit()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # tokenizers' fork warning under xdist
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")  # nothing phones home, whatever a library defaults to
    # transformers' "PyTorch was not found" advice on import (in each xdist worker): tokenizers need no torch.
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    # simple-icd-10-cm 1.5.0 loads its table with deprecated importlib.resources calls, sometimes
    # from the baseline server's thread where a local catch_warnings cannot reach.
    config.addinivalue_line("filterwarnings", "ignore:(read_text|open_text) is deprecated:DeprecationWarning")


# -- collection ----------------------------------------------------------------------------------


def _deselect(config: pytest.Config, items: list[pytest.Item], keep: list[Any], drop: list[Any]) -> None:
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def modify_items(config: pytest.Config, setup: ClueSetup, items: list[pytest.Item]) -> None:
    """The selected CLUE samples: the tasks asked for, --clue-select, --clue-kind; each run once."""
    problems = unknown_tasks(setup)  # now that every test module's task file is read
    if problems:
        items[:] = []  # pytest still finishes the collection: with nothing selected, nothing is sent or written
        raise pytest.UsageError("clue-checks: " + "; ".join(problems))
    keep: list[Any] = []
    drop: list[Any] = []
    for item in items:
        (drop if is_sample(item) and not setup.settings.selects(task_of(item, setup.catalog) or "") else keep).append(item)
    _deselect(config, items, keep, drop)
    exempt_from_reruns(config, items, is_sample)
    select = setup.settings.select
    if select is not None:  # --clue-select=broke|fixed: the last comparison's samples only
        select_items(config, items, select, setup.settings.selected_from, sample_param)
    selection = setup.kind_selection
    if selection is not None:  # --clue-kind: only the samples whose last outcome has one of the kinds
        keep, drop = split_items(items, selection, sample_param_of)
        _deselect(config, items, keep, drop)


def worker_input(config: pytest.Config, setup: ClueSetup, workerinput: dict[str, Any]) -> None:
    """What the controller hands each worker as it starts."""
    settings = setup.settings
    if settings.select is not None:
        workerinput[SELECT_KEY] = sorted(wanted(config, settings.select, settings.selected_from))
    workerinput[COUNTS_KEY] = folder_for_workers(config)  # a killed worker's requests still count
    workerinput[RECORDS_KEY] = open_for_workers(config)  # records' text outside the reports (spools; --clue-redact)
    if setup.kind_selection is not None:  # --clue-kind, read once here: a worker may start after the report goes
        workerinput[KINDS_KEY] = sorted(setup.kind_selection.ids)
