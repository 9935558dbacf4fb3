"""The CLUE tasks: one module each. `TASKS` maps a task name to its class."""

from __future__ import annotations

from .base import LoadedTask, Prompt, Sample, SampleResult, Task
from .longhealth import LongHealthT1, LongHealthT2, LongHealthT3
from .medisumcode import MeDiSumCode
from .medisumqa import MeDiSumQA
from .mednli import MedNLI
from .meqsum import MeQSum
from .problemsummary import ProblemSummary
from .profiles import PROFILES, Profile, get_profile

# Report order: Level 1 then Level 2, as in CLUE's results.
TASKS: dict[str, type[Task]] = {cls.name: cls for cls in (
    MedNLI, MeQSum, ProblemSummary, LongHealthT1, LongHealthT2, LongHealthT3, MeDiSumQA, MeDiSumCode)}

__all__ = ["TASKS", "PROFILES", "LoadedTask", "Profile", "Prompt", "Sample", "SampleResult", "Task", "get_profile"]
