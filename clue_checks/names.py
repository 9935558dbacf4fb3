"""The names the plugin needs before any task code runs: built-in tasks, profiles, prompt layouts and
baseline variants, each listed once.

The plugin is loaded into every pytest session of the environment, so this module imports nothing
but ``re``. The task registry (``clue_checks.tasks.TASKS``), the profiles (``tasks.profiles.PROFILES``),
``rendering`` and ``server.variants`` take their names from here; tests/package/test_names.py checks that
they agree.
"""

from __future__ import annotations

import re

# Built-in tasks, in report order: Level 1 then Level 2, as in CLUE's results.
MEDNLI = "mednli"
MEQSUM = "meqsum"
PROBLEMSUMMARY = "problemsummary"
LONGHEALTH_T1 = "longhealth-t1"
LONGHEALTH_T2 = "longhealth-t2"
LONGHEALTH_T3 = "longhealth-t3"
MEDISUMQA = "medisumqa"
MEDISUMCODE = "medisumcode"
TASKS = (MEDNLI, MEQSUM, PROBLEMSUMMARY, LONGHEALTH_T1, LONGHEALTH_T2, LONGHEALTH_T3, MEDISUMQA, MEDISUMCODE)
LONGHEALTH_TASKS = (LONGHEALTH_T1, LONGHEALTH_T2, LONGHEALTH_T3)
SUMMARY_TASKS = (MEQSUM, PROBLEMSUMMARY, MEDISUMQA)

# A user's task (a task file's or an installed package's) is named like the built-in ones.
TASK_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,47}$")

# The generations of CLUE's code (--clue-profile): the TGI-era paper code, the 2025 vLLM-era head.
PAPER = "paper"
HEAD = "head"
PROFILES = (PAPER, HEAD)

# How CLUE's conversation is laid out (--clue-prompt-layout).
PROMPT_LAYOUTS = ("auto", "template", "template-no-system", "base")

# The embedded baseline's models (--clue-baseline-variant, `clue serve-baseline --variant`).
DEFAULT_VARIANT = "default"
FINETUNE_DEGRADED = "finetune-degraded"
BASELINE_VARIANTS = (DEFAULT_VARIANT, FINETUNE_DEGRADED)
