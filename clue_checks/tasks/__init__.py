"""The CLUE tasks: one module each. `TASKS` maps a task name to its class.

The same `Task` API carries users' own tasks: a task file (`load_task_file`, docs/own-tasks.md) or a
`Task` subclass registered through the `clue_checks.tasks` entry-point group (`registry.py`)."""

from __future__ import annotations

from clue_checks import names
from clue_checks.tasks.base import LoadedTask, Prompt, Sample, SampleResult, Task, Turn
from clue_checks.tasks.longhealth import LongHealthT1, LongHealthT2, LongHealthT3
from clue_checks.tasks.medisumcode import MeDiSumCode
from clue_checks.tasks.medisumqa import MeDiSumQA
from clue_checks.tasks.mednli import MedNLI
from clue_checks.tasks.meqsum import MeQSum
from clue_checks.tasks.problemsummary import ProblemSummary
from clue_checks.tasks.profiles import PROFILES, Profile, get_profile

_BUILT_IN = {cls.name: cls for cls in (
    MedNLI, MeQSum, ProblemSummary, LongHealthT1, LongHealthT2, LongHealthT3, MeDiSumQA, MeDiSumCode)}
# In the report order of clue_checks.names.TASKS (Level 1 then Level 2, as in CLUE's results), which the
# plugin reads without importing task code: a class missing there fails here, at import.
TASKS: dict[str, type[Task]] = {name: _BUILT_IN[name] for name in names.TASKS}

from clue_checks.tasks.file_task import FileTask, load_task_file  # noqa: E402  (after TASKS: it imports the base only)
from clue_checks.tasks.taskfile import TaskDefinition, TaskFileError, read_task_file  # noqa: E402

__all__ = ["TASKS", "PROFILES", "FileTask", "LoadedTask", "Profile", "Prompt", "Sample", "SampleResult", "Task",
           "TaskDefinition", "TaskFileError", "Turn", "get_profile", "load_task_file", "read_task_file"]
