"""pytest hooks only: register the role objects when a session asks for CLUE.

The plugin is loaded into every pytest session of the environment (a `pytest11` entry point), so it
acts only in a session that asks for CLUE, as `--junitxml` acts only when given:

- a clue-checks option on the command line or a `clue_*` key in the ini file configures it at
  start-up (settings and thresholds are checked then);
- a collected test marked `clue_task` configures it on the spot.

Configured, it registers its roles by mode (see `roles/`): a `Controller` in the single process or
the xdist controller, a `SampleSession` in the single process or each worker. Nothing is written,
started or exited until a sample is collected; a session that collects none leaves the report
folder as it was. Importing this module imports pytest and the option table, nothing heavy.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest

from clue_checks import options
from clue_checks import settings as settings_mod

if TYPE_CHECKING:
    from clue_checks.roles.controller import Controller  # noqa: F401  (named in the StashKey below)
    from clue_checks.roles.session import SampleSession  # noqa: F401
    from clue_checks.roles.setup import ClueSetup
    from clue_checks.sample_verdict import SampleCheck

MARKER = "clue_task"
FIXTURE = "clue_sample"

SETUP = pytest.StashKey["ClueSetup"]()
CONTROLLER = pytest.StashKey["Controller"]()
SESSION = pytest.StashKey["SampleSession"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]):  # type: ignore[no-untyped-def]
    # After the initial conftests have added their options, before pytest refuses unknown arguments.
    result = yield
    options.refuse_unprefixed(parser, args)
    return result


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_xdist_controller(config: pytest.Config) -> bool:
    return not _is_worker(config) and bool(getattr(config.option, "numprocesses", None)) and \
        getattr(config.option, "dist", "no") != "no"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(name, path=None): the task a sample-test module runs, by name "
                            "(CLUE's or an installed package's) or by the path of a task file")
    if settings_mod.requested(config):
        configure_clue(config)
    elif _is_xdist_controller(config):
        config.pluginmanager.register(LateStart(config), "clue-checks-late-start")


def configure_clue(config: pytest.Config) -> ClueSetup:
    """Resolve the settings and register the roles for this process (once)."""
    if SETUP in config.stash:
        return config.stash[SETUP]
    from clue_checks.roles.controller import Controller  # noqa: F401  (named in the StashKey below)
    from clue_checks.roles.session import SampleSession  # noqa: F401
    from clue_checks.roles.setup import resolve

    setup = resolve(config)
    config.stash[SETUP] = setup
    from clue_checks.roles.gc_tuning import freeze_heap_at_exit, tune_for_run

    config.add_cleanup(tune_for_run())
    freeze_heap_at_exit()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # tokenizers' fork warning under xdist
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")  # nothing phones home, whatever a library defaults to
    # transformers' "PyTorch was not found" advice on import (in each xdist worker): tokenizers need no torch.
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    # simple-icd-10-cm 1.5.0 loads its table with deprecated importlib.resources calls, sometimes
    # from the baseline server's thread where a local catch_warnings cannot reach.
    config.addinivalue_line("filterwarnings", "ignore:(read_text|open_text) is deprecated:DeprecationWarning")
    session = None
    if not _is_xdist_controller(config):
        session = SampleSession(config, setup, worker=_is_worker(config))
        config.stash[SESSION] = session
        config.pluginmanager.register(session, "clue-checks-session")
    if not _is_worker(config):
        controller = Controller(config, setup, session=session, xdist=_is_xdist_controller(config))
        config.stash[CONTROLLER] = controller
        config.pluginmanager.register(controller, "clue-checks-controller")
        if _is_xdist_controller(config):  # the live line over all workers (a single process draws its own)
            from clue_checks.roles.progress import ControllerProgress

            config.pluginmanager.register(ControllerProgress(config, every=setup.settings.progress_every),
                                          "clue-checks-progress")
        if _is_xdist_controller(config):  # workers name the task files they read (the controller reads none)
            config.pluginmanager.register(TaskFilesFromWorkers(setup), TASK_FILES_PLUGIN)
    return setup


def pytest_unconfigure(config: pytest.Config) -> None:
    for key, name in ((SESSION, "clue-checks-session"), (CONTROLLER, "clue-checks-controller")):
        if key in config.stash:
            del config.stash[key]
            config.pluginmanager.unregister(name=name)
    for name in ("clue-checks-progress", "clue-checks-junit", TASK_FILES_PLUGIN):
        if config.pluginmanager.has_plugin(name):
            config.pluginmanager.unregister(name=name)
    if SETUP in config.stash:
        del config.stash[SETUP]


# -- collection ------------------------------------------------------------------------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if FIXTURE not in metafunc.fixturenames:
        return
    configure_clue(metafunc.config)  # a CLUE test module asks for CLUE by itself
    metafunc.config.stash[SESSION].parametrize(metafunc)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if SETUP not in config.stash:
        return
    from clue_checks.roles.session import task_of
    from clue_checks.roles.setup import unknown_tasks

    setup = config.stash[SETUP]
    problems = unknown_tasks(setup)  # now that every test module's task file is read
    if problems:
        items[:] = []  # pytest still finishes the collection: with nothing selected, nothing is sent or written
        raise pytest.UsageError("clue-checks: " + "; ".join(problems))
    keep, drop = [], []
    for item in items:
        sample = FIXTURE in getattr(item, "fixturenames", ())
        (drop if sample and not setup.settings.selects(task_of(item, setup.catalog) or "") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    from clue_checks.roles.reruns import exempt_from_reruns

    exempt_from_reruns(config, items, lambda item: FIXTURE in getattr(item, "fixturenames", ()))
    select = config.stash[SETUP].settings.select
    if select is not None:  # --clue-select=broke|fixed: the last comparison's samples only
        from clue_checks.roles.select import select_items
        from clue_checks.roles.session import sample_param

        select_items(config, items, select, config.stash[SETUP].settings.selected_from, sample_param)
    selection = config.stash[SETUP].kind_selection
    if selection is not None:  # --clue-kind: only the samples whose last outcome has one of the kinds
        from clue_checks.roles.kind_selection import split_items

        keep, drop = split_items(items, selection, sample_param_of)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep


def sample_param_of(item: pytest.Item) -> str | None:
    from clue_checks.roles.session import sample_param

    return sample_param(item) if FIXTURE in getattr(item, "fixturenames", ()) else None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    # Each worker sends the share our scheduler will give it (only when the scheduler is ours).
    node.workerinput["clue_share"] = node.config.getoption("dist") == "load" and CONTROLLER in node.config.stash
    if SETUP in node.config.stash and node.config.stash[SETUP].settings.select is not None:
        from clue_checks.roles.select import WORKER_KEY, wanted

        settings = node.config.stash[SETUP].settings
        node.workerinput[WORKER_KEY] = sorted(wanted(node.config, settings.select, settings.selected_from))
    if SETUP in node.config.stash:
        from clue_checks.roles.worker_counts import FOLDER_KEY as COUNTS_KEY
        from clue_checks.roles.worker_counts import folder_for_workers

        node.workerinput[COUNTS_KEY] = folder_for_workers(node.config)  # a killed worker's requests still count
    if SETUP in node.config.stash and node.config.stash[SETUP].settings.redact:
        from clue_checks.roles.private_records import FOLDER_KEY, open_for_workers

        node.workerinput[FOLDER_KEY] = open_for_workers(node.config)  # records' text outside the reports
    selection = node.config.stash[SETUP].kind_selection if SETUP in node.config.stash else None
    if selection is not None:  # --clue-kind, read once here: a worker may start after the report is replaced
        from clue_checks.roles.kind_selection import WORKER_KEY

        node.workerinput[WORKER_KEY] = sorted(selection.ids)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "load" or CONTROLLER not in config.stash:
        return None
    from clue_checks.xdist_share import ShareScheduling

    controller = config.stash[CONTROLLER]
    return ShareScheduling(config, log, collection_failed=lambda: controller.collection_failed)


TASK_FILES_PLUGIN = "clue-checks-task-files"


class TaskFilesFromWorkers:
    """On the xdist controller: the task files a worker's report names join the session's catalog, so the
    report, the gates and the comparison know the users' tasks the workers ran."""

    def __init__(self, setup: ClueSetup) -> None:
        self.setup = setup

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        adopt_task_files(self.setup, report)


def adopt_task_files(setup: ClueSetup, report: pytest.TestReport) -> None:
    from pathlib import Path

    for name, path in (getattr(report, "clue_task_files", None) or {}).items():
        if name not in setup.catalog.classes:
            setup.catalog.add_file(Path(path))


class LateStart:
    """On an xdist controller of a session that did not ask for CLUE by configuration: the first report
    of a CLUE sample from a worker (its tests asked by their marker) starts the controller role."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if getattr(report, "clue_sample", False) and CONTROLLER not in self.config.stash:
            setup = configure_clue(self.config)
            adopt_task_files(setup, report)
            self.config.pluginmanager.unregister(self)
            # Registered during this hook call: pluggy calls it from the next report on.
            self.config.stash[CONTROLLER].pytest_runtest_logreport(report)


@pytest.fixture
def clue_sample(request: pytest.FixtureRequest) -> SampleCheck:
    """The sample's response, already cleaned; `.check()` scores it and asserts the verdict."""
    return request.config.stash[SESSION].sample_check(request)
