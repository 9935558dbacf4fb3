"""The names the plugin reads without importing task code are the names of the code itself."""

from __future__ import annotations

from clue_checks import names, settings
from clue_checks.rendering import PROMPT_LAYOUTS
from clue_checks.server.variants import VARIANTS
from clue_checks.tasks import TASKS
from clue_checks.tasks.profiles import PROFILES
from clue_checks.tasks.taskfile import NAME
from clue_checks.triage.kinds import KINDS


def test_the_task_names_are_the_registry_of_built_in_tasks_in_report_order():
    assert names.TASKS == tuple(TASKS) == settings.TASKS
    assert all(cls.name == name for name, cls in TASKS.items())
    assert set(names.LONGHEALTH_TASKS) | set(names.SUMMARY_TASKS) <= set(names.TASKS)


def test_the_profile_names_are_the_profiles():
    assert names.PROFILES == tuple(PROFILES) == settings.PROFILES
    assert all(profile.name == name for name, profile in PROFILES.items())


def test_the_layouts_variants_and_user_task_pattern_are_those_of_their_code():
    assert names.PROMPT_LAYOUTS == PROMPT_LAYOUTS == settings.PROMPT_LAYOUTS
    assert names.BASELINE_VARIANTS == VARIANTS == settings.BASELINE_VARIANTS
    assert names.TASK_NAME.pattern == NAME.pattern


def test_every_task_a_failure_kind_is_looked_for_on_is_a_built_in_task():
    assert all(kind.tasks is None or set(kind.tasks) <= set(names.TASKS) for kind in KINDS)


def test_the_names_module_imports_no_task_code():
    import subprocess
    import sys

    code = "import sys, clue_checks.names\nprint(sorted(m for m in sys.modules if m.startswith('clue_checks.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['clue_checks.names']"
