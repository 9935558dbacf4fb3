"""pytest hooks only: register the role objects when a session asks for CLUE.

The plugin is loaded into every pytest session of the environment (a `pytest11` entry point), so it
acts only in a session that asks for CLUE, as `--junitxml` acts only when given:

- a clue-checks option on the command line or a `clue_*` key in the ini file configures it at
  start-up (settings and thresholds are checked then);
- a collected test marked `clue_task` configures it on the spot.

Configured, it registers the roles of this process's mode (roles/adapters.py builds them): in a single
process a `LocalSession` and a `SingleProcessController`, on the xdist controller an `XdistController`,
in each xdist worker a `WorkerSession`. Nothing is written, started or exited until a sample is
collected; a session that collects none leaves the report folder as it was. Importing this module
imports pytest, the option table and the cheap item readers, nothing heavy: the roles are imported
only in a session that asks for CLUE.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from clue_checks import options
from clue_checks import settings as settings_mod
from clue_checks.roles.items import FIXTURE, MARKER, adopt_task_files
from clue_checks.roles.mode import Mode, mode_of

if TYPE_CHECKING:
    from clue_checks.roles.controller import Controller  # noqa: F401  (named in the StashKey below)
    from clue_checks.roles.session import SampleSession  # noqa: F401
    from clue_checks.run_setup import ClueSetup
    from clue_checks.sample_verdict import SampleCheck

SETUP = pytest.StashKey["ClueSetup"]()
CONTROLLER = pytest.StashKey["Controller"]()
SESSION = pytest.StashKey["SampleSession"]()
SESSION_PLUGIN = "clue-checks-session"
CONTROLLER_PLUGIN = "clue-checks-controller"


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]):  # type: ignore[no-untyped-def]
    # After the initial conftests have added their options, before pytest refuses unknown arguments.
    result = yield
    options.refuse_unprefixed(parser, args)
    return result


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(name, path=None): the task a sample-test module runs, by name "
                            "(CLUE's or an installed package's) or by the path of a task file")
    if settings_mod.requested(config):
        configure_clue(config)
    elif mode_of(config) is Mode.XDIST_CONTROLLER:
        config.pluginmanager.register(LateStart(config), "clue-checks-late-start")


def _adapters() -> ModuleType:
    from clue_checks.roles import adapters  # the roles import numpy and the rest: only when CLUE is asked for

    return adapters


def configure_clue(config: pytest.Config) -> ClueSetup:
    """Resolve the settings and register the roles for this process (once)."""
    if SETUP in config.stash:
        return config.stash[SETUP]
    from clue_checks.run_setup import resolve

    adapters = _adapters()

    setup = resolve(config)
    config.stash[SETUP] = setup
    adapters.prepare_process(config)
    roles = adapters.build_roles(config, setup, mode_of(config))
    if roles.session is not None:
        config.stash[SESSION] = roles.session
        config.pluginmanager.register(roles.session, SESSION_PLUGIN)
    if roles.controller is not None:
        config.stash[CONTROLLER] = roles.controller
        config.pluginmanager.register(roles.controller, CONTROLLER_PLUGIN)
    for helper, name in roles.helpers:
        config.pluginmanager.register(helper, name)
    return setup


def pytest_unconfigure(config: pytest.Config) -> None:
    for key, name in ((SESSION, SESSION_PLUGIN), (CONTROLLER, CONTROLLER_PLUGIN)):
        if key in config.stash:
            del config.stash[key]
            config.pluginmanager.unregister(name=name)
    for name in ("clue-checks-progress", "clue-checks-junit", "clue-checks-task-files", "clue-checks-log-capture"):
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
    _adapters().modify_items(config, config.stash[SETUP], items)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    # Each worker sends the share our scheduler will give it (only when the scheduler is ours).
    node.workerinput["clue_share"] = node.config.getoption("dist") == "load" and CONTROLLER in node.config.stash
    if SETUP in node.config.stash:
        _adapters().worker_input(node.config, node.config.stash[SETUP], node.workerinput)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "load" or CONTROLLER not in config.stash:
        return None
    from clue_checks.xdist_share import ShareScheduling

    controller = config.stash[CONTROLLER]
    return ShareScheduling(config, log, collection_failed=lambda: controller.collection_failed)


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
