"""The CLUE tasks: one module each. `TASKS` maps a task name to its class."""

from __future__ import annotations

from .base import LoadedTask, Prompt, Sample, SampleResult, Task
from .mednli import MedNLI
from .meqsum import MeQSum
from .profiles import PROFILES, Profile, get_profile

TASKS: dict[str, type[Task]] = {cls.name: cls for cls in (MedNLI, MeQSum)}

__all__ = ["TASKS", "PROFILES", "LoadedTask", "Profile", "Prompt", "Sample", "SampleResult", "Task", "get_profile"]
